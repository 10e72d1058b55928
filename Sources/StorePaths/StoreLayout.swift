/// Where a Nix store is on this machine: its filesystem root and its store directory.
///
/// The machine's own store is root `/` with `/nix/store`; a chroot store (Nix's
/// `local?root=/some/dir`) keeps the logical `/nix/store` names but its files and database live
/// under `/some/dir`.
public struct StoreLayout: Hashable, Sendable {
    public var root: String
    public var storeDirectory: StoreDirectory

    public init(root: String = "/", storeDirectory: StoreDirectory = .standard) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.storeDirectory = storeDirectory
    }

    private var prefix: String { root == "/" ? "" : root }

    /// Where the files of `path` are.
    public func physicalPath(of path: StorePath) -> String {
        prefix + storeDirectory.fullPath(of: path)
    }

    /// Nix's state directory, holding the database.
    public var databaseDirectory: String { "\(prefix)/nix/var/nix/db" }

    public var databasePath: String { "\(databaseDirectory)/db.sqlite" }
}

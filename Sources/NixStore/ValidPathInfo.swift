/// What the Nix database knows about one valid store path.
public struct ValidPathInfo: Hashable, Sendable {
    /// The `ValidPaths.id` row id; ids only grow, which is what the watcher's watermark uses.
    public var id: Int64
    public var path: StorePath
    /// SHA-256 of the path's NAR serialisation.
    public var narHash: NixHash
    public var narSize: UInt64
    public var deriver: StorePath?
    /// `Sig:` values the path already carries (e.g. `cache.nixos.org-1:...`).
    public var signatures: [String]
    /// Content-address assertion (`fixed:r:sha256:...`, `text:sha256:...`), if any.
    public var ca: String?
    /// Seconds since the epoch when Nix registered the path.
    public var registrationTime: Int64
    /// Whether the path was built locally (as opposed to substituted or copied).
    public var ultimate: Bool
    /// Direct references, sorted, possibly including the path itself.
    public var references: [StorePath]

    public init(
        id: Int64, path: StorePath, narHash: NixHash, narSize: UInt64, deriver: StorePath? = nil,
        signatures: [String] = [], ca: String? = nil, registrationTime: Int64 = 0, ultimate: Bool = false,
        references: [StorePath] = []
    ) {
        self.id = id
        self.path = path
        self.narHash = narHash
        self.narSize = narSize
        self.deriver = deriver
        self.signatures = signatures
        self.ca = ca
        self.registrationTime = registrationTime
        self.ultimate = ultimate
        self.references = references
    }

    /// References other than the path itself: those that must be in a cache before this path.
    public var dependencies: [StorePath] { references.filter { $0 != path } }
}

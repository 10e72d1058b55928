import Foundation

/// The Nix a test runs: Debian 12's, on this machine, or Debian 13's, from the tree
/// `scripts/trixie-tree` makes, entered with `scripts/in-trixie`. Tests that must hold for
/// every Nix users run take `NixVersion.tested` as their arguments.
public enum NixVersion: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Nix 2.8.0 (`nix-bin` of Debian 12): `OUT_PATHS` empty in the post-build hook, no
    /// `SchemaMigrations` table.
    case v2_8 = "2.8"
    /// Nix 2.26.3 (`nix-bin` of Debian 13).
    case v2_26 = "2.26"

    public var description: String { "Nix \(rawValue)" }

    /// The versions the end-to-end suites run against: both wherever the tree can be entered
    /// (as root, as CI runs), Debian 12's alone otherwise.
    public static var tested: [NixVersion] {
        getuid() == 0 ? allCases : [.v2_8]
    }

    /// The directory of the repository's `scripts/`.
    static let scriptsDirectory: String = {
        var directory = URL(fileURLWithPath: #filePath)
        while directory.path != "/" && !FileManager.default.fileExists(atPath: directory.appendingPathComponent("scripts/in-trixie").path) {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("scripts").path
    }()

    /// `scripts/in-trixie`, after making sure the tree exists (made once per machine, about two
    /// minutes; CI makes it in `install-dependencies --with-test-tools`).
    static let inTrixie: Result<String, TestFailure> = {
        let result = try? Subprocess.run("\(scriptsDirectory)/trixie-tree", [])
        guard let result, result.status == 0 else {
            return .failure(TestFailure("scripts/trixie-tree failed: \(result?.standardError ?? "could not run it")"))
        }
        return .success("\(scriptsDirectory)/in-trixie")
    }()

    /// The directory holding the Swift runtime libraries the built programs link to, which a
    /// hook run by Nix 2.26 inside the tree must find at the same path: the toolchain's
    /// `lib/swift/linux`, next to the `swift` on PATH (the one that built them).
    static let swiftRuntimeDirectory: String? = {
        guard let swift = try? Subprocess.which("swift") else { return nil }
        let resolved = URL(fileURLWithPath: swift).resolvingSymlinksInPath()
        let runtime = resolved.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("lib/swift/linux").path
        return FileManager.default.fileExists(atPath: "\(runtime)/libswiftCore.so") ? runtime : nil
    }()
}

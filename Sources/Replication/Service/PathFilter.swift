import Glibc
import NixStore

/// Which new store paths the watcher publishes.
///
/// Patterns are shell globs (fnmatch(3)) on the path's name, the part after `<hash>-`:
/// `hello-*`, `*-source`, `*.tar.gz`. A path is published if it matches an include pattern (or
/// there are none) and no exclude pattern; derivations (`.drv`) only when asked for; and not if
/// it already carries a signature by one of `skipSignedBy` (e.g. `cache.nixos.org-1`: it came
/// from that cache, which serves it already). Dependencies of a published path are published
/// whatever the filter says: a cache must hold whole closures.
public struct PathFilter: Sendable, Equatable {
    public var includes: [String]
    public var excludes: [String]
    public var includeDerivations: Bool
    /// Key names (the part of a `Sig:` before the colon).
    public var skipSignedBy: Set<String>

    public init(includes: [String] = [], excludes: [String] = [], includeDerivations: Bool = false, skipSignedBy: Set<String> = []) {
        self.includes = includes
        self.excludes = excludes
        self.includeDerivations = includeDerivations
        self.skipSignedBy = skipSignedBy
    }

    /// Why `info` is left out, or nil if it is to be published.
    public func exclusionReason(_ info: ValidPathInfo) -> String? {
        let name = String(info.path.name)
        if info.path.isDerivation && !includeDerivations { return "a derivation (.drv)" }
        if !includes.isEmpty && !includes.contains(where: { Self.matches(name, $0) }) { return "matches no include pattern" }
        if let pattern = excludes.first(where: { Self.matches(name, $0) }) { return "matches exclude pattern '\(pattern)'" }
        if let signer = info.signatures.lazy.compactMap({ $0.split(separator: ":").first.map(String.init) })
            .first(where: skipSignedBy.contains) {
            return "already signed by \(signer)"
        }
        return nil
    }

    public func accepts(_ info: ValidPathInfo) -> Bool { exclusionReason(info) == nil }

    private static func matches(_ name: String, _ pattern: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }
}

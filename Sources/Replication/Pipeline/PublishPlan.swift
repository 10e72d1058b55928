import NixStore

/// What one publish does, decided in one step for `backfill`, `watch` and the hook: the
/// closure read from the Nix database, ordered references first, less the paths the manifest
/// records as published and the paths the cache already has.
///
/// "Is it published already?" is answered here, and only here: from the manifest for what
/// narsync recorded, from the cache for the rest (`Publisher.plan`). The filters (`--include`,
/// `--exclude`, ...) choose the roots before that; a root's references are published whatever
/// the filters say, because the cache must never announce a path whose references it lacks.
public struct PublishPlan: Sendable {
    /// The paths to upload, references before referrers.
    public let toPublish: [ValidPathInfo]
    /// Paths of the closure the manifest records as published.
    public let recorded: Set<StorePath>
    /// Paths of the closure the cache has (another builder, or a run without a manifest), in
    /// dependency order, with the size the Nix database gives.
    public let cached: [ValidPathInfo]

    /// Orders `closure` references first and leaves out `recorded` and `cached`. Pure.
    public init(closure: [StorePath: ValidPathInfo], recorded: Set<StorePath> = [], cached: Set<StorePath> = []) {
        let ordered = dependencyOrder(closure.filter { !recorded.contains($0.key) })
        toPublish = ordered.filter { !cached.contains($0.path) }
        self.cached = ordered.filter { cached.contains($0.path) }
        self.recorded = recorded.intersection(closure.keys)
    }

    /// Uncompressed bytes to read and upload.
    public var narBytes: UInt64 { toPublish.reduce(0) { $0 + $1.narSize } }
}

extension Publisher {
    /// Plans publishing `closure`: the paths the manifest has `recorded` are left out, the cache
    /// is asked about the others (unless repairing, which uploads them again), and the rest
    /// ordered.
    /// - Throws: when the cache cannot be asked what it has.
    public func plan(_ closure: [StorePath: ValidPathInfo], recorded: Set<StorePath> = []) async throws -> PublishPlan {
        let unknown = closure.keys.filter { !recorded.contains($0) }.sorted()
        let cached = options.repair ? [] : try await cachedPaths(unknown)
        return PublishPlan(closure: closure, recorded: recorded, cached: cached)
    }
}

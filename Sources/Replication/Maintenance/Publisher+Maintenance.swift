import BinaryCache
import Foundation
import NixStore
import SystemSupport

// The publisher's two small hooks for cache maintenance, kept apart from the pipeline:
// the writer's side of the gc lease protocol, and the renewal of paths met again.

extension Publisher {
    /// The writer's side of the gc lease protocol for one publish of `toPublish` (see
    /// `GCLeaseGuard`): if a gc holds the cache, what the new narinfos will reference without
    /// this run uploading it is renewed now, so that the gc keeps it.
    func guardAgainstConcurrentGC(_ toPublish: [ValidPathInfo]) async throws -> GCLeaseGuard? {
        guard let leaseGuard = GCLeaseGuard(
            destination: destination, reliedOn: Self.reliedOn(toPublish), recheckInterval: options.gcLeaseRecheckInterval)
        else { return nil }
        // What a gc already removed is found again before the narinfos are written.
        _ = try await executor.run { try leaseGuard.protectReliedOn() }
        return leaseGuard
    }

    /// The references of the paths to upload that are not among them: cached, recorded by a
    /// manifest, or outside the batch. Only those need protecting from a concurrent gc (a batch
    /// found all cached announces nothing).
    static func reliedOn(_ uploading: [ValidPathInfo]) -> Set<StorePath> {
        Set(uploading.flatMap(\.dependencies)).subtracting(uploading.map(\.path))
    }

    /// The cache's gc generation: which `narsync gc` ran last (or runs now), and whether it
    /// still runs. A writer that remembers what it published (the watch's manifest) must not
    /// trust that memory across generations: the gc may have removed those paths.
    public func gcGeneration() async throws -> GCGeneration? {
        let destination = destination
        return try await executor.run {
            try GCLease.read(from: destination).map { GCGeneration(id: $0.id, isRunning: $0.isHeld()) }
        }
    }

    /// Renews the narinfos of `paths` (already in the cache, met again, e.g. substituted on a
    /// machine of the fleet) that are older than `age`, so that `narsync gc --older-than`
    /// counts them as used. One HEAD per path, and a renewal (S3 CopyObject onto itself, or a
    /// touch) for the old ones.
    /// - Returns: the paths renewed.
    public func renewNarInfos(of paths: [StorePath], olderThan age: Duration) async throws -> [StorePath] {
        // An HTTP cache can neither renew nor be collected: there is nothing to keep young.
        guard let destination = destination as? any CacheMaintenance, destination.isListable, !paths.isEmpty else { return [] }
        let executor = self.executor
        let cutoff = Date().addingTimeInterval(-age.timeInterval)
        let renewed = try await concurrentMap(paths, limit: options.jobs) { path -> StorePath? in
            try await executor.run { () throws -> StorePath? in
                let key = CacheKeys.narInfo(path)
                guard let object = try destination.objectInfo(key: key), object.modified < cutoff else { return nil }
                return try destination.renew(key: key) ? path : nil
            }
        }
        return renewed.compactMap { $0 }
    }
}

extension GCLeaseGuard {
    /// Throws `RemovedByConcurrentGC` if a gc has removed what the narinfos of `ready` rely on.
    func checkBeforeAnnouncing(_ ready: [(ValidPathInfo, UploadedNar)]) throws {
        let references = Set(ready.flatMap(\.0.dependencies)).subtracting(ready.map(\.0.path))
        let missing = try missingBeforeAnnouncing(references: references, nars: ready.map(\.1.key))
        guard missing.isEmpty else {
            markFoundRemovals()
            throw RemovedByConcurrentGC(keys: missing)
        }
    }
}

/// Objects a narinfo would rely on were removed by a concurrent gc; the publisher publishes again.
struct RemovedByConcurrentGC: Error, CustomStringConvertible {
    var keys: [String]
    var description: String {
        "a concurrent narsync gc removed \(keys.prefix(3).joined(separator: ", "))\(keys.count > 3 ? " and \(keys.count - 3) more" : ""): publishing again"
    }
}

/// Which gc ran last in a cache (see `Publisher.gcGeneration`).
public struct GCGeneration: Sendable, Equatable {
    public var id: String
    public var isRunning: Bool
}

/// Whether the watch may trust its manifest's record of what it published: not while a gc
/// runs, and not across gc generations (the gc may have removed what the manifest lists). At
/// start, trusted only if no gc ever ran in the cache.
final class PublishedRecordTrust: Sendable {
    private let seen = Locked<(known: Bool, generation: String?)>((false, nil))

    func isTrusted(now current: GCGeneration?) -> Bool {
        seen.withLock { seen in
            defer { seen = (true, current?.id) }
            if current?.isRunning == true { return false }
            return seen.known ? seen.generation == current?.id : current == nil
        }
    }
}

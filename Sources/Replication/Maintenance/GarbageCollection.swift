import BinaryCache
import Foundation
import Logging
import NixStore
import SystemSupport

/// Carries out a `GCPlan` in a live cache, the gc's side of the lease protocol (see `GCLease`):
/// take the lease, wait `settle` so that every narsync writer has seen it, list and plan,
/// then delete layer by layer, each narinfo only if a check right before its deletion still
/// finds it old. One found young (renewed by a writer) is kept with everything it references.
public final class GarbageCollection: Sendable {
    public struct Timing: Sendable {
        /// Wait between taking the lease and listing the cache: longer than writers take to
        /// see a lease (`PublishOptions.gcLeaseRecheckInterval`, 10 s) plus a narinfo write.
        public var settle: Duration
        /// How long writers wait after a renewal or upload before checking it still exists; a
        /// deletion follows its age check within half of it.
        public var fence: Duration
        /// A lease lives this long unless renewed; the gc renews it at a third of it.
        public var leaseDuration: Duration

        public init(settle: Duration = .seconds(30), fence: Duration = .seconds(2), leaseDuration: Duration = .seconds(600)) {
            self.settle = settle
            self.fence = fence
            self.leaseDuration = leaseDuration
        }
    }

    private let destination: any CacheMaintenance
    private let executor: BlockingExecutor
    private let jobs: Int
    private let timing: Timing
    private let logger: Logger

    public init(destination: any CacheMaintenance, executor: BlockingExecutor, jobs: Int, timing: Timing = Timing(), logger: Logger) {
        self.destination = destination
        self.executor = executor
        self.jobs = max(1, jobs)
        self.timing = timing
        self.logger = logger
    }

    /// Takes the lease and waits `settle`: then every narsync writer protects what it relies on,
    /// and the cache can be listed and planned. Hold it with `holdingLease` while deleting.
    /// - Throws: `GCLeaseHeld` if another gc holds the cache.
    public func acquireLease() async throws -> GCLease {
        let destination = destination, timing = timing
        let lease = try await executor.run { () throws -> GCLease in
            if let other = try GCLease.read(from: destination), other.isHeld() {
                throw GCLeaseHeld(cache: "\(destination)", lease: other)
            }
            let lease = GCLease(
                holder: "\(ProcessInfo.processInfo.hostName) pid \(getpid())",
                duration: timing.leaseDuration.timeInterval, fence: timing.fence.timeInterval)
            try lease.write(to: destination)
            // Two gcs starting at once: the last write wins, the other stops here.
            guard try GCLease.read(from: destination)?.id == lease.id else {
                throw GCLeaseHeld(cache: "\(destination)", lease: try GCLease.read(from: destination) ?? lease)
            }
            return lease
        }
        logger.info("gc lease taken; waiting for writers to see it", metadata: ["settle": "\(timing.settle)"])
        try await Task.sleep(for: timing.settle)
        return lease
    }

    /// Keeps the lease alive while `body` runs, then marks it released: writers stop protecting,
    /// and its id stays as the cache's gc generation (see `Publisher.gcGeneration`).
    public func holdingLease<T: Sendable>(_ lease: GCLease, _ body: () async throws -> T) async throws -> T {
        let destination = destination, timing = timing
        let renewing = Task {
            var current = lease
            while !Task.isCancelled {
                try? await Task.sleep(for: timing.leaseDuration / 3)
                if Task.isCancelled { break }
                current.expires = Date().addingTimeInterval(timing.leaseDuration.timeInterval).timeIntervalSince1970
                let renewed = current
                try? await executor.run { try renewed.write(to: destination) }
            }
        }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        // A renewal landing after the release would hold the lease again until it expires.
        renewing.cancel()
        await renewing.value
        await release(lease)
        return try result.get()
    }

    private func release(_ lease: GCLease) async {
        var ended = lease
        ended.expires = Date().timeIntervalSince1970
        let released = ended, destination = destination
        do {
            try await executor.run { try released.write(to: destination) }
        } catch {
            logger.warning("cannot release the gc lease; writers keep protecting until it expires: \(error)")
        }
    }

    /// Deletes what `plan` says, re-checking ages: narinfos layer by layer (referrers first),
    /// then NARs no remaining narinfo names, then old uploads.
    public func execute(_ plan: GCPlan, settings: GarbageCollector.Settings, progress: (any MaintenanceProgress)? = nil) async -> GCOutcome {
        var outcome = GCOutcome()
        progress?.started(items: plan.narInfos.count + plan.nars.count + plan.uploads.count, bytes: plan.narBytes)
        let planned = Dictionary(plan.narInfos.map { ($0.hashPart, $0) }, uniquingKeysWith: { a, _ in a })
        var keep = Set<String>()
        for layer in plan.narInfoLayers {
            let todo = layer.filter { !keep.contains($0.hashPart) }
            let results = await forEach(todo) { entry in try self.deleteIfStillOld(entry.object.key, before: settings.cutoff) }
            for (entry, result) in zip(todo, results) {
                switch result {
                case .success(.deleted):
                    outcome.removedNarInfos.append(entry)
                case .success(.gone):
                    break
                case .success(.young):
                    outcome.renewedMeanwhile.append(entry)
                    keep.formUnion(Self.closure(of: entry.hashPart, in: planned))
                case .failure(let error):
                    outcome.failures.append("cannot remove \(entry.object.key) (\(Self.name(of: entry))): \(error)")
                    keep.formUnion(Self.closure(of: entry.hashPart, in: planned))
                }
                progress?.advanced(items: 1, bytes: 0)
            }
        }
        // A narinfo kept after all keeps its NAR.
        let stillNamed = Set(keep.compactMap { planned[$0]?.narInfo?.url })
        let nars = plan.nars.filter { !stillNamed.contains($0.key) }
        let narResults = await forEach(nars) { nar in try self.deleteIfStillOld(nar.key, before: settings.graceCutoff) }
        for (nar, result) in zip(nars, narResults) {
            switch result {
            case .success(.deleted): outcome.removedNars.append(nar)
            case .success: break
            case .failure(let error): outcome.failures.append("cannot remove \(nar.key): \(error)")
            }
            progress?.advanced(items: 1, bytes: nar.size)
        }
        let uploadResults = await forEach(plan.uploads) { upload in try self.destination.abort(upload) }
        for (upload, result) in zip(plan.uploads, uploadResults) {
            switch result {
            case .success: outcome.abortedUploads.append(upload)
            case .failure(let error): outcome.failures.append("cannot abort the upload of \(upload.key) (\(upload.id)): \(error)")
            }
            progress?.advanced(items: 1, bytes: 0)
        }
        return outcome
    }

    enum Deletion: Sendable { case deleted, gone, young }

    /// Deletes `key` if it exists and was modified before `cutoff`, sending the deletion within
    /// half the fence of the check (checking again if the check is older).
    private func deleteIfStillOld(_ key: String, before cutoff: Date) throws -> Deletion {
        for _ in 0..<5 {
            let checked = ContinuousClock.now
            guard let object = try destination.objectInfo(key: key) else { return .gone }
            // S3's Last-Modified has whole seconds: an object written just after the cutoff may
            // show a time just before it. Old means old by more than that.
            guard object.modified.addingTimeInterval(1) < cutoff else { return .young }
            if ContinuousClock.now - checked < timing.fence / 2 {
                try destination.delete(key: key)
                return .deleted
            }
        }
        // Writers rely on a deletion following its check within half the fence.
        throw GCDeletionError.checksTooSlow(key: key, fence: timing.fence)
    }

    private func forEach<Element: Sendable, T: Sendable>(
        _ elements: [Element], _ body: @escaping @Sendable (Element) throws -> T
    ) async -> [Result<T, any Error>] {
        let executor = executor
        return (try? await concurrentMap(elements, limit: jobs) { element in
            await executor.run { Result { try body(element) } }
        }) ?? []
    }

    /// `hash` and what it references among the planned narinfos, transitively.
    private static func closure(of hash: String, in planned: [String: CachedNarInfo]) -> Set<String> {
        var closure = Set<String>(), pending = [hash]
        while let next = pending.popLast() {
            guard closure.insert(next).inserted else { continue }
            pending += (planned[next]?.narInfo?.references ?? []).map { String($0.hashPart) }.filter { planned[$0] != nil }
        }
        return closure
    }

    static func name(of entry: CachedNarInfo) -> String {
        entry.narInfo.map { $0.storePath.baseName } ?? entry.object.key
    }
}

/// Why the gc kept an object it meant to delete.
enum GCDeletionError: Error, CustomStringConvertible {
    case checksTooSlow(key: String, fence: Duration)

    var description: String {
        switch self {
        case .checksTooSlow(let key, let fence):
            "kept \(key): checking its age took longer than half the writers' fence (\(fence)) five times; the cache answers too slowly"
        }
    }
}

/// What a gc did.
public struct GCOutcome: Sendable {
    public var removedNarInfos: [CachedNarInfo] = []
    /// Planned for removal, found renewed by a writer when their turn came: kept, with their closures.
    public var renewedMeanwhile: [CachedNarInfo] = []
    public var removedNars: [StoredObject] = []
    public var abortedUploads: [IncompleteUpload] = []
    /// One line per deletion that failed; the next gc tries again.
    public var failures: [String] = []

    public init() {}

    public var bytesFreed: UInt64 {
        removedNarInfos.reduce(0) { $0 + $1.object.size } + removedNars.reduce(0) { $0 + $1.size }
            + abortedUploads.reduce(0) { $0 + ($1.size ?? 0) }
    }
}

import BinaryCache
import Foundation
import Logging
import NixStore
import SystemSupport

/// narsync's always-on service: new valid paths in, published closures out, with every step
/// recorded in the manifest so that a restart resumes where the last run stopped.
///
/// One loop: wait for a reason to look (the database changed, the hook queued paths, a failed
/// path is due again, the periodic re-check), read the `ValidPaths` rows above the watermark and
/// queue the ones the filter accepts, then publish the queue batch by batch through the
/// `Publisher`, recording each outcome. Database reads run on their own thread.
public final class ReplicationService: Sendable {
    private let layout: StoreLayout
    private let publisher: Publisher
    private let manifest: AsyncManifest
    private let options: Configuration
    private let logger: Logger
    private let observer: (any ReplicationServiceObserver)?
    private let database: DatabaseReader
    /// With `initialBackfill`, the newest row at the very first start: rows up to it were there
    /// before narsync and queue at backfill priority, below new builds. (They are all queued
    /// within the first scan, so a restart need not remember it.)
    private let backfillEnd = Locked<Int64>(0)
    private let publishedRecordTrust = PublishedRecordTrust()
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation

    /// Why the loop looks again.
    enum Event: Sendable {
        case databaseChanged(WakeReason)
        /// Paths were queued from outside (the hook): publish, no need to read the database.
        case queued
        case retryDue
        /// A publishing round ended; `morePending` if it found entries (there may be more).
        case roundFinished(morePending: Bool)
        case stop
        /// The uploads in flight at a stop took longer than the grace period.
        case gracePeriodOver
    }

    public init(
        layout: StoreLayout, publisher: Publisher, manifest: AsyncManifest, options: Configuration,
        logger: Logger, observer: (any ReplicationServiceObserver)? = nil
    ) {
        self.layout = layout
        self.publisher = publisher
        self.manifest = manifest
        self.options = options
        self.logger = logger
        self.observer = observer
        database = DatabaseReader(layout: layout, busyTimeout: options.databaseBusyTimeout)
        // The loop drains events as they come and each producer has at most a few pending
        // (one watcher wake, one retry timer, one round, hook nudges bounded by its connection
        // limit), so this bound is never reached in practice.
        (events, eventSink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1024))
    }

    /// The destination this service publishes to.
    public var destination: any BinaryCacheDestination { publisher.destination }

    /// The destination's identity, its name in the manifest, the metrics and the logs.
    public var identity: DestinationIdentity { publisher.destination.identity }

    /// The destination's name in the manifest.
    private var name: String { identity.url }

    /// Queues paths a build produced (Nix's post-build hook), above everything else, and wakes
    /// the loop. The caller has read each path's row from the Nix database: `info` is nil for a
    /// path not valid yet, which is queued anyway (the round drops it if it never becomes
    /// valid). Blocking (one manifest write): call it from a dedicated thread.
    /// - Returns: how many were newly queued (the others were queued or published already).
    public func enqueueBuilt(_ paths: [BuiltPath], origin: String) throws -> Int {
        var accepted: [QueuedPath] = []
        for built in paths {
            if let info = built.info, let reason = options.filter.exclusionReason(info) {
                logger.debug("not published: \(reason)", metadata: ["path": "\(layout.storeDirectory.fullPath(of: built.path))"])
                continue
            }
            accepted.append(QueuedPath(path: built.path, priority: .hook, reason: origin))
        }
        let destination = name
        let queued = try manifest.runBlocking { try $0.enqueue(accepted, for: destination) }
        eventSink.yield(.queued)
        return queued
    }

    /// The destination's figures for metrics: its manifest status, and the newest row of the
    /// Nix database, read on the service's own connection.
    public func figures() async throws -> ServiceFigures {
        let destination = name
        let status = try await manifest.run { try $0.status(for: destination, recentCount: 0) }
        let newest = try await database.read { try $0.newestID() }
        return ServiceFigures(status: status, newestDatabaseID: newest)
    }

    /// Asks the service to finish its current uploads (within the grace period) and return.
    public func stop() { eventSink.yield(.stop) }

    /// Runs until `stop()`.
    public func run() async throws {
        // Watch first, then catch up: a commit between the two still wakes the loop.
        let watcher = try DatabaseWatcher(databaseDirectory: layout.databaseDirectory, timing: options.timing)
        defer { watcher.stop() }
        let forwarding = Task { [eventSink] in
            for await reason in watcher.wakes { eventSink.yield(.databaseChanged(reason)) }
        }
        defer { forwarding.cancel() }

        try await startWatermark()
        await logging { try await self.abortStaleUploads() }
        try await scanDatabase()
        observer?.serviceIsWatching(identity)
        logger.info("watching", metadata: ["database": "\(layout.databasePath)", "destination": "\(identity)"])

        // One consumer of `events`, one round of publishing at a time. A round runs as its own
        // task and reports its end as an event, so a stop can arrive while it runs.
        var round: Task<Void, Never>?
        var retryTimer: Task<Void, Never>?, graceTimer: Task<Void, Never>?
        defer {
            retryTimer?.cancel()
            graceTimer?.cancel()
        }
        var needsScan = false, needsRound = true
        var events = self.events.makeAsyncIterator()
        while true {
            if round == nil {
                if needsScan {
                    needsScan = false
                    await logging { try await self.scanDatabase() }
                    needsRound = true
                }
                if needsRound {
                    needsRound = false
                    round = Task { [eventSink] in
                        let published = await self.logging { try await self.publishNextBatch() } ?? false
                        eventSink.yield(.roundFinished(morePending: published))
                    }
                } else {
                    retryTimer?.cancel()
                    retryTimer = await logging { try await self.scheduleRetryWake() } ?? nil
                    await reportStatus()
                }
            }
            guard let event = await events.next() else { return }
            switch event {
            case .stop:
                guard round != nil else { return shutDown() }
                guard graceTimer == nil else { continue }
                logger.notice("stopping: letting uploads in flight finish", metadata: ["grace": "\(options.gracePeriod.readable)"])
                // The round's uploads block their threads and cannot be interrupted: the loop
                // waits for its end or the grace period, whichever comes first.
                graceTimer = Task { [eventSink, grace = options.gracePeriod] in
                    guard (try? await Task.sleep(for: grace)) != nil else { return }
                    eventSink.yield(.gracePeriodOver)
                }
            case .gracePeriodOver:
                // The process ends under the uploads; the manifest resumes them next time.
                logger.warning("grace period over: stopping with uploads in flight; the next start resumes them")
                return shutDown()
            case .databaseChanged:
                needsScan = true
            case .queued, .retryDue:
                needsRound = true
            case .roundFinished(let morePending):
                round = nil
                if graceTimer != nil { return shutDown() }
                needsRound = needsRound || morePending
            }
        }
    }

    /// Runs `body`, logging instead of throwing: the service outlives a failed round (the
    /// manifest keeps the queue, and the next wake tries again).
    private func logging<T>(_ body: () async throws -> T) async -> T? {
        do {
            return try await body()
        } catch {
            logger.error("\(error)")
            return nil
        }
    }

    // MARK: - Finding new paths

    /// On the very first start, the watermark is the current end of the database (or 0 with
    /// `initialBackfill`): narsync publishes what appears from now on unless asked for the past.
    private func startWatermark() async throws {
        let destination = name, initialBackfill = options.initialBackfill
        guard try await manifest.run({ try $0.watermark(for: destination) }) == nil else { return }
        let newest = try await database.read { try $0.newestID() }
        let start = initialBackfill ? 0 : newest
        if initialBackfill { backfillEnd.withLock { $0 = newest } }
        try await manifest.run { try $0.setWatermark(start, for: destination) }
        logger.notice("first start: \(initialBackfill ? "publishing the whole store" : "publishing paths registered from now on")",
                      metadata: ["watermark": "\(start)"])
    }

    /// Queues the accepted `ValidPaths` rows above the watermark, advancing it in the same
    /// transaction. Rows come in pages, so a first backfill of a large store stays bounded.
    private func scanDatabase() async throws {
        let destination = name, filter = options.filter
        while true {
            let watermark = try await manifest.run { try $0.watermark(for: destination) } ?? 0
            let rows = try await database.read { try $0.paths(after: watermark, limit: 5000) }
            guard let newest = rows.last?.id else { return }
            let backfillEnd = backfillEnd.withLock { $0 }
            var accepted: [QueuedPath] = []
            for info in rows {
                let priority: QueuePriority = info.id <= backfillEnd ? .backfill : .watcher
                if let reason = filter.exclusionReason(info) {
                    logger.debug("not published: \(reason)", metadata: ["path": "\(layout.storeDirectory.fullPath(of: info.path))"])
                } else {
                    accepted.append(QueuedPath(path: info.path, priority: priority, reason: "ValidPaths id \(info.id)"))
                }
            }
            let batch = accepted
            let queued = try await manifest.run { try $0.enqueue(batch, for: destination, advancingWatermarkTo: newest) }
            if queued > 0 { logger.info("queued new paths", metadata: ["count": "\(queued)", "watermark": "\(newest)"]) }
        }
    }

    // MARK: - Publishing

    /// Publishes the next due queue entries; false if none was due.
    private func publishNextBatch() async throws -> Bool {
        let destination = name, batchSize = options.batchSize
        let entries = try await manifest.run { try $0.nextBatch(for: destination, limit: batchSize * Self.backfillBatchFactor) }
        guard let first = entries.first else { return false }
        // Paths someone waits for go out in rounds of `batchSize`, so that a new build is not
        // held up behind a long round; with only backfill left, larger rounds pay a round's
        // fixed costs (manifest transactions, the pipeline draining at its end) less often.
        try await publish(Array(entries.prefix(first.priority == .backfill ? entries.count : batchSize)))
        return true
    }

    /// How many times `batchSize` a round takes when only backfill paths are queued.
    static let backfillBatchFactor = 4

    private func publish(_ entries: [QueueEntry]) async throws {
        let destination = name, layout = layout
        let roots = entries.map(\.path)
        // After a gc the manifest's record may name paths the cache no longer has: then the
        // walk does not stop at them, and the cache is asked instead.
        let trustsRecord = await manifestRecordStillHolds()
        let (closure, gone, alreadyPublished) = try await unpublishedClosure(of: roots, trustingRecord: trustsRecord)
        for path in gone {
            logger.info("dropped from the queue: no longer in the store", metadata: ["path": "\(layout.storeDirectory.fullPath(of: path))"])
        }
        if !gone.isEmpty {
            try await manifest.run { manifest in
                for path in gone { try manifest.drop(path, for: destination, reason: "no longer in the store") }
            }
        }
        let plan: PublishPlan, summary: PublishSummary
        do {
            plan = try await publisher.plan(closure, recorded: alreadyPublished)
            summary = try await publisher.publish(plan, progress: options.progress)
        } catch {
            // The cache could not even be asked what it has: every entry waits and retries.
            logger.error("cannot reach the cache: \(error)", metadata: ["destination": "\(identity)"])
            let message = "\(error)"
            try await manifest.run { manifest in
                for entry in entries { try manifest.markFailed(entry.path, for: destination, error: message) }
            }
            return
        }
        // Published paths are not in the walk's closure: the queued ones found published are the walk's.
        try await record(summary, queued: Set(roots), recorded: alreadyPublished)
        let cachedBefore = Set(summary.alreadyCachedPaths.map(\.path))
        await renewMetAgain(roots.filter { alreadyPublished.contains($0) || cachedBefore.contains($0) })
    }

    /// The part of the closure of `roots` that is not published yet, the roots that are no longer
    /// valid, and those of the roots and their references found published on the way.
    ///
    /// The walk stops at paths the manifest records as published (their closures are, as a
    /// narinfo is written only after its references'), so a batch costs in proportion to what it
    /// publishes, not to the whole store below it: with 100,000 paths published, a batch of 256
    /// new ones reads a few hundred rows, not tens of thousands. One database read and one
    /// manifest read per level of references.
    private func unpublishedClosure(of roots: [StorePath], trustingRecord: Bool) async throws
        -> (closure: [StorePath: ValidPathInfo], gone: [StorePath], alreadyPublished: Set<StorePath>) {
        let destination = name
        var closure: [StorePath: ValidPathInfo] = [:], alreadyPublished: Set<StorePath> = []
        var gone: [StorePath] = []
        var level = roots, isRootLevel = true
        while !level.isEmpty {
            let candidates = level
            let published = trustingRecord
                ? try await manifest.run { try $0.publishedSet(of: candidates, for: destination) } : []
            alreadyPublished.formUnion(published)
            let wanted = candidates.filter { !published.contains($0) }
            let infos = try await database.read { database in try wanted.map { try database.pathInfo($0) } }
            var next: Set<StorePath> = []
            for (path, info) in zip(wanted, infos) {
                // A root gone is dropped from the queue; a reference gone was collected with its
                // referrer, whose upload finds it gone too.
                guard let info else {
                    if isRootLevel { gone.append(path) }
                    continue
                }
                closure[path] = info
                next.formUnion(info.references)
            }
            level = next.filter { closure[$0] == nil && !alreadyPublished.contains($0) }.sorted()
            isRootLevel = false
        }
        return (closure, gone, alreadyPublished)
    }

    // MARK: - Cache maintenance hooks (see Maintenance/)

    /// Whether the manifest's published set may stand for the cache's contents: a `narsync gc`
    /// since (or now) may have removed some, and then the cache is asked instead.
    private func manifestRecordStillHolds() async -> Bool {
        // A cache that cannot be asked is asked again by the publisher, which reports why.
        do {
            return publishedRecordTrust.isTrusted(now: try await publisher.gcGeneration())
        } catch {
            return false
        }
    }

    /// Renews the narinfos of queued paths the cache already had, if older than
    /// `options.refreshAge`, so that `narsync gc` counts them as used.
    private func renewMetAgain(_ paths: [StorePath]) async {
        guard let age = options.refreshAge, !paths.isEmpty else { return }
        do {
            let renewed = try await publisher.renewNarInfos(of: paths, olderThan: age)
            for path in renewed { logger.info("renewed", metadata: ["path": "\(layout.storeDirectory.fullPath(of: path))"]) }
        } catch {
            logger.warning("cannot renew cached paths: \(error)", metadata: ["destination": "\(identity)"])
        }
    }

    private func record(_ summary: PublishSummary, queued: Set<StorePath>, recorded: Set<StorePath>) async throws {
        let destination = name, storeDirectory = layout.storeDirectory
        let dropped = try await manifest.run { manifest in
            // Queued paths the manifest already knows as published leave the queue with their record.
            let known = try queued.intersection(recorded).compactMap { try manifest.publishedRecord(of: $0, for: destination) }
            try manifest.markPublished(summary.published + summary.alreadyCachedPaths + known, for: destination)
            for failure in summary.failures where queued.contains(failure.path) {
                try manifest.markFailed(failure.path, for: destination, error: failure.message(in: storeDirectory))
            }
            return try summary.vanished.filter { path in
                try queued.contains(path) && manifest.drop(path, for: destination, reason: "garbage-collected before it could be read")
            }
        }
        // Said as for a root the walk found gone: the same outcome of the same race with Nix's gc,
        // met a moment later.
        for path in dropped {
            logger.info("dropped from the queue: garbage-collected before it could be read", metadata: ["path": "\(storeDirectory.fullPath(of: path))"])
        }
    }

    /// Aborts the multipart uploads the manifest has recorded for longer than `staleUploadAge`,
    /// at the destination first, so that no upload is forgotten while its parts remain.
    private func abortStaleUploads() async throws {
        let destination = name
        let startedBefore = Date().addingTimeInterval(-options.staleUploadAge.timeInterval)
        let stale = try await manifest.run { try $0.staleUploads(for: destination, startedBefore: startedBefore) }
        for upload in stale {
            guard try await publisher.abortUpload(key: upload.key, uploadID: upload.uploadID) else { return }
            try await manifest.run { try $0.journal(for: destination).uploadEnded(key: upload.key, uploadID: upload.uploadID) }
            logger.notice("aborted a stale multipart upload", metadata: [
                "key": "\(upload.key)", "started": "\(upload.startedAt)", "parts stored": "\(upload.storedParts)",
            ])
        }
    }

    // MARK: - Timers and status

    /// A wake for when the earliest failed path is due again.
    private func scheduleRetryWake() async throws -> Task<Void, Never>? {
        let destination = name
        guard let due = try await manifest.run({ try $0.nextAttemptDate(for: destination) }) else { return nil }
        let delay = max(0, due.timeIntervalSinceNow)
        return Task { [eventSink] in
            guard (try? await Task.sleep(for: .seconds(delay) + .milliseconds(5))) != nil else { return }
            eventSink.yield(.retryDue)
        }
    }

    private func reportStatus() async {
        guard let observer else { return }
        let destination = name
        if let status = try? await manifest.run({ try $0.status(for: destination, recentCount: 0) }) {
            observer.serviceIsIdle(identity, status: status)
        }
    }

    private func shutDown() {
        logger.notice("stopped")
    }
}

/// A path a build produced, with its row in the Nix database if it is valid already.
public struct BuiltPath: Sendable {
    public var path: StorePath
    public var info: ValidPathInfo?

    public init(path: StorePath, info: ValidPathInfo?) {
        self.path = path
        self.info = info
    }
}

/// One destination's state, for metrics.
public struct ServiceFigures: Sendable {
    public var status: ManifestStatus
    /// The newest `ValidPaths` row when the figures were taken.
    public var newestDatabaseID: Int64

    /// `ValidPaths` rows not handled yet.
    public var lag: Int64 { status.lag(newestDatabaseID: newestDatabaseID) }
}

/// What a running service tells whoever supervises it (for sd_notify).
public protocol ReplicationServiceObserver: Sendable {
    /// The service watches the database and has queued what was new at its start.
    func serviceIsWatching(_ destination: DestinationIdentity)
    /// The service has worked off its queue for now; `status` is its destination's state.
    func serviceIsIdle(_ destination: DestinationIdentity, status: ManifestStatus)
}

/// The Nix database, opened once and used only on its own thread.
private final class DatabaseReader: @unchecked Sendable {
    private let layout: StoreLayout
    private let busyTimeout: Duration
    private let thread = BlockingExecutor(threadCount: 1, name: "nix-db")
    private var database: StoreDatabase?

    init(layout: StoreLayout, busyTimeout: Duration) {
        self.layout = layout
        self.busyTimeout = busyTimeout
    }

    deinit { thread.shutdown() }

    func read<T: Sendable>(_ body: @escaping @Sendable (StoreDatabase) throws -> T) async throws -> T {
        try await thread.run {
            if self.database == nil { self.database = try StoreDatabase(layout: self.layout, busyTimeout: self.busyTimeout) }
            return try body(self.database!)
        }
    }
}

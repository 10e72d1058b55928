import BinaryCache
import Logging
import NixStore
import SystemSupport

/// The one upload path of narsync: `backfill`, `watch` and the hook all publish through it.
///
/// Given store paths in dependency order, it leaves out those already in the cache, uploads the
/// others' NARs `jobs` at a time and writes each narinfo (signed, and last) once its references
/// are in the cache. All blocking work (reading, compressing, sending) runs on `executor`'s
/// threads; the cooperative pool only schedules.
public final class Publisher: Sendable {
    public let destination: any BinaryCacheDestination
    public let options: PublishOptions
    private let storeDirectory: StoreDirectory
    private let physicalPath: @Sendable (StorePath) -> String
    private let uploader: NarUploader
    private let executor: BlockingExecutor
    private let logger: Logger

    /// - Parameters:
    ///   - physicalPath: where a store path's files are on this machine (see `StoreDatabase`).
    ///   - executor: threads for blocking work; it needs at least `options.jobs` of them.
    public init(
        destination: any BinaryCacheDestination, storeDirectory: StoreDirectory,
        physicalPath: @escaping @Sendable (StorePath) -> String, options: PublishOptions,
        executor: BlockingExecutor, journal: (any UploadJournal)? = nil, logger: Logger
    ) {
        self.destination = destination
        self.storeDirectory = storeDirectory
        self.physicalPath = physicalPath
        self.options = options
        self.executor = executor
        self.logger = logger
        uploader = NarUploader(
            destination: destination, compressionLevel: options.compressionLevel,
            compressionWorkers: options.compressionWorkers, journal: journal)
    }

    /// Writes `nix-cache-info` unless the cache has one.
    public func ensureCacheInfo() async throws {
        let destination = destination, cacheInfo = options.cacheInfo
        try await executor.run {
            guard try !destination.exists(key: "nix-cache-info") else { return }
            try destination.put(key: "nix-cache-info", contents: Array(cacheInfo.rendered.utf8), contentType: ContentType.cacheInfo)
        }
    }

    /// Discards a multipart upload a previous run left unfinished at the destination.
    /// - Returns: false if the destination has no such uploads (it does not upload in parts).
    public func abortUpload(key: String, uploadID: String) async throws -> Bool {
        guard let destination = destination as? any MultipartUploadAborting else { return false }
        try await executor.run { try destination.abortUpload(key: key, uploadID: uploadID) }
        return true
    }

    /// The paths of `paths` whose narinfo the cache already has.
    public func cachedPaths(_ paths: [StorePath]) async throws -> Set<StorePath> {
        let destination = destination
        if paths.count >= options.listingThreshold,
           let listed = try await executor.run({ try destination.listKeys(suffix: ".narinfo") }) {
            return Set(paths.filter { listed.contains("\($0.hashPart).narinfo") })
        }
        return try await withThrowingTaskGroup(of: StorePath?.self) { group in
            var cached = Set<StorePath>()
            var started = 0
            for path in paths {
                if started >= options.jobs, let found = try await group.next() { if let found { cached.insert(found) } }
                group.addTask { [executor] in
                    try await executor.run { try destination.exists(key: "\(path.hashPart).narinfo") ? path : nil }
                }
                started += 1
            }
            for try await found in group { if let found { cached.insert(found) } }
            return cached
        }
    }

    /// Plans and publishes `paths` (see `plan`): for callers with no manifest.
    public func publish(_ paths: [ValidPathInfo], progress: (any PublishProgress)? = nil) async throws -> PublishSummary {
        let closure = Dictionary(paths.map { ($0.path, $0) }) { first, _ in first }
        return try await publish(plan(closure), progress: progress)
    }

    /// Uploads what `plan` says (references outside it must already be in the cache). Per-path
    /// failures are in the summary; thrown errors mean the cache could not be written at all.
    public func publish(_ plan: PublishPlan, progress: (any PublishProgress)? = nil) async throws -> PublishSummary {
        let clock = ContinuousClock(), start = clock.now
        var summary = PublishSummary()
        let todo = plan.toPublish
        summary.alreadyCachedPaths = plan.cached.map { PublishedPath(path: $0.path, narSize: $0.narSize, nar: nil) }
        progress?.batchStarted(paths: todo.count, narBytes: plan.narBytes, alreadyCached: summary.alreadyCached)
        if !todo.isEmpty { try await ensureCacheInfo() }

        var scheduler = PublishScheduler(paths: todo, inGroups: destination.commitsInGroups)
        await withTaskGroup(of: JobResult.self) { group in
            var running = 0
            func startJobs() {
                while running < options.jobs, let job = scheduler.nextJob() {
                    running += 1
                    group.addTask { await self.run(job) }
                }
            }
            startJobs()
            while let result = await group.next() {
                running -= 1
                switch result {
                case .narUploaded(let info, let nar):
                    scheduler.narUploaded(info, nar)
                case .narInfosWritten(let written):
                    scheduler.narInfosFinished(written: written.map(\.0.path), failures: [])
                    for (info, nar) in written {
                        summary.published.append(PublishedPath(path: info.path, narSize: info.narSize, nar: nar))
                        summary.narBytes += info.narSize
                        summary.compressedBytes += nar.fileSize
                        logger.info("published", metadata: ["path": "\(storeDirectory.fullPath(of: info.path))", "nar": "\(nar.key)", "size": "\(info.narSize)"])
                        progress?.pathPublished(info, nar: nar)
                    }
                case .narInfosFailed(let failures):
                    scheduler.narInfosFinished(written: [], failures: failures)
                case .failed(let error):
                    scheduler.failed(error.path, error)
                }
                startJobs()
            }
        }
        for (path, outcome) in scheduler.outcomes {
            switch outcome {
            case .published: break
            case .vanished:
                summary.vanished.append(path)
                logger.warning("skipped: no longer in the store (garbage-collected)", metadata: ["path": "\(storeDirectory.fullPath(of: path))"])
            case .failed(let error):
                summary.failures.append(error)
                logger.error("\(error.message(in: storeDirectory))")
                progress?.pathFailed(error)
            }
        }
        summary.failures.sort { $0.path < $1.path }
        summary.duration = clock.now - start
        return summary
    }

    private enum JobResult: Sendable {
        case narUploaded(ValidPathInfo, UploadedNar)
        case narInfosWritten([(ValidPathInfo, UploadedNar)])
        case narInfosFailed([PublishError])
        case failed(PublishError)
    }

    private func run(_ job: PublishScheduler.Job) async -> JobResult {
        switch job {
        case .uploadNar(let info):
            let uploader = uploader, location = physicalPath(info.path)
            do {
                return .narUploaded(info, try await executor.run { try uploader.upload(info, physicalPath: location) })
            } catch {
                return .failed(Self.publishError(error, info.path))
            }
        case .writeNarInfos(let ready):
            do {
                // Signing is CPU work too: off the cooperative pool with the writing.
                try await executor.run {
                    try self.destination.putGroup(ready.map { info, nar in
                        SmallObject(
                            key: "\(info.path.hashPart).narinfo",
                            contents: Array(self.signedNarInfo(info, nar).rendered(in: self.storeDirectory).utf8),
                            contentType: ContentType.narInfo)
                    })
                }
                return .narInfosWritten(ready)
            } catch {
                // Some of a group may be in the cache already; the next run finds them there.
                return .narInfosFailed(ready.map { Self.publishError(error, $0.0.path) })
            }
        }
    }

    /// The narinfo of a published path, with its own signatures and ours.
    func signedNarInfo(_ info: ValidPathInfo, _ nar: UploadedNar) -> NarInfo {
        var narInfo = NarInfo(
            storePath: info.path, url: nar.key, compression: "zstd", fileHash: nar.fileHash, fileSize: nar.fileSize,
            narHash: info.narHash, narSize: info.narSize, references: info.references, deriver: info.deriver,
            signatures: info.signatures, ca: info.ca)
        let fingerprint = narInfo.fingerprint(in: storeDirectory)
        for key in options.signingKeys {
            let signature = key.sign(fingerprint)
            if !narInfo.signatures.contains(signature) { narInfo.signatures.append(signature) }
        }
        return narInfo
    }

    private static func publishError(_ error: any Error, _ path: StorePath) -> PublishError {
        (error as? PublishError) ?? .destination(path, PublishError.Cause(error))
    }
}

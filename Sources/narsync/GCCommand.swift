import ArgumentParser
import BinaryCache
import Foundation
import Logging
import NixStore
import Replication
import SystemSupport

struct GCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove from a cache the closures nobody has published or used for a while.",
        discussion: """
            A path's age is the last time it was published or renewed: its narinfo's \
            modification time (S3 LastModified, file mtime). narsync watch renews paths it \
            meets again (--refresh-after), so what a fleet keeps building or substituting \
            stays young.

            Kept: every narinfo younger than --older-than, every path given with --keep or \
            --keep-from (e.g. the closures of deployed systems), and everything those \
            reference, however old. The rest is removed in an order that never breaks a \
            closure: narinfos first, referrers before their references; then NARs no \
            remaining narinfo names, older than --grace; then uploads left in flight for longer \
            than --grace.

            Other narsync writers (this version and later) may publish into the cache while a \
            gc runs: the gc takes a lease object (narsync-gc.lease) and waits until they have \
            seen it; they then protect what they rely on. A plain `nix copy` into the cache \
            during a gc is not protected. Run one gc per cache at a time.

            Exit status: 0 done, 1 some deletions failed (the next gc retries them) or another \
            gc holds the cache, 2 bad input.

            Examples:
              narsync gc file:///srv/cache --older-than 30d --dry-run
              narsync gc 's3://cache?region=eu-west-1' --older-than 90d --keep-from /etc/narsync/keep
            """
    )

    @Argument(help: ArgumentHelp("The cache: file:///dir or s3://bucket?... (an http(s):// cache cannot be listed).", valueName: "cache-url"))
    var cacheURL: String

    @Option(name: .customLong("older-than"), help: ArgumentHelp(
        "Remove paths whose narinfo is older than this, unless kept: 30d, 12h, 90m.", valueName: "age"))
    var olderThan: String

    @Option(name: .customLong("keep"), help: ArgumentHelp("A store path kept with its closure, however old; repeatable.", valueName: "path"))
    var keep: [String] = []

    @Option(name: .customLong("keep-from"), help: ArgumentHelp("A file of store paths kept with their closures, one per line; repeatable.", valueName: "file"))
    var keepFrom: [String] = []

    @Option(help: ArgumentHelp("NARs no narinfo names, and uploads left in flight, go only once older than this.", valueName: "age"))
    var grace = "1d"

    @Flag(name: .customLong("dry-run"), help: "Print what would be removed, with the bytes; change nothing.")
    var dryRun = false

    @Flag(help: "Print the summary as JSON on standard output.")
    var json = false

    @Option(help: "Requests in flight at once.")
    var jobs = 16

    @Option(name: .customLong("store-dir"), help: ArgumentHelp("The store directory the --keep paths are in.", valueName: "dir"))
    var storeDirectory = "/nix/store"

    /// For tests: the wait after taking the lease (default 30 s), which writers' lease
    /// re-reads (`--gc-lease-recheck-seconds`, default 10) must be well within.
    @Option(name: .customLong("settle-seconds"), help: .hidden)
    var settleSeconds = 30.0

    @OptionGroup(title: "Cache access") var access: CacheAccessOptions
    @OptionGroup(title: "Logging") var logging: LoggingOptions

    func validate() throws {
        do { _ = try AgeDuration(parsing: olderThan) } catch { throw ValidationError("--older-than: \(error)") }
        do { _ = try AgeDuration(parsing: grace) } catch { throw ValidationError("--grace: \(error)") }
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 256, not \(jobs)") }
        guard (0...3600).contains(settleSeconds) else { throw ValidationError("--settle-seconds must be between 0 and 3600") }
    }

    func run() async throws {
        let interactive = isatty(STDERR_FILENO) == 1 && !json
        let logger = logging.makeLogger(label: "narsync.gc", interactive: interactive)
        let age = try AgeDuration(parsing: olderThan), graceAge = try AgeDuration(parsing: grace)
        let directory = try validatingInput { try StoreDirectory(storeDirectory) }
        var kept: [StorePath] = []
        for file in keepFrom { kept += try validatingInput { try StorePathList.read([], from: file, storeDirectory: directory) } }
        kept += try validatingInput { try StorePathList.read(keep, from: nil, storeDirectory: directory) }
        let destination = try validatingInput { try access.open(cacheURL) }
        let executor = BlockingExecutor(threadCount: jobs, name: "narsync-gc")
        defer { executor.shutdown() }
        // Bad credentials, a missing bucket or an unreachable server show now, as bad input.
        _ = try await validatingInput { try await executor.run { try destination.objectInfo(key: CacheKeys.cacheInfo) } }
        guard destination.isListable else {
            printError("\(destination) cannot be listed, so it cannot be collected: run narsync gc on the bucket or directory behind it")
            throw ExitStatus.badInput
        }

        let collection = GarbageCollection(
            destination: destination, executor: executor, jobs: jobs,
            timing: GarbageCollection.Timing(settle: .milliseconds(Int(settleSeconds * 1000))), logger: logger)
        let keepHashes = Set(kept.map { String($0.hashPart) })
        let progressBar = interactive ? ProgressBar() : nil
        // The plan is made from a listing taken after the lease settled (see GCLease).
        func planNow() async throws -> (GCPlan, GarbageCollector.Settings) {
            let now = Date()
            let settings = GarbageCollector.Settings(
                cutoff: now.addingTimeInterval(-Double(age.seconds)), graceCutoff: now.addingTimeInterval(-Double(graceAge.seconds)),
                keep: keepHashes)
            guard let inventory = try await CacheInventory.load(from: destination, executor: executor, jobs: jobs, progress: progressBar) else {
                throw GCError(description: "\(destination) cannot be listed")
            }
            return (GarbageCollector(settings: settings).plan(inventory), settings)
        }

        var report: GCReport
        if dryRun {
            let (plan, _) = try await planNow()
            progressBar?.finish()
            report = GCReport(cache: "\(destination)", plan: plan, outcome: nil)
        } else {
            let lease: GCLease
            do {
                lease = try await collection.acquireLease()
            } catch let held as GCLeaseHeld {
                printError("\(held)")
                throw ExitStatus.partialFailure
            }
            report = try await collection.holdingLease(lease) {
                let (plan, settings) = try await planNow()
                let outcome = await collection.execute(plan, settings: settings, progress: progressBar)
                return GCReport(cache: "\(destination)", plan: plan, outcome: outcome)
            }
            progressBar?.finish()
        }
        print(json ? report.json : report.text(storeDirectory: directory))
        if !(report.outcome?.failures.isEmpty ?? true) { throw ExitStatus.partialFailure }
    }
}

struct GCError: Error, CustomStringConvertible {
    var description: String
}

/// What `narsync gc` prints: the plan (dry run) or what was done.
struct GCReport: Sendable {
    var cache: String
    var plan: GCPlan
    var outcome: GCOutcome?

    func text(storeDirectory: StoreDirectory) -> String {
        func name(_ entry: CachedNarInfo) -> String {
            entry.narInfo.map { storeDirectory.fullPath(of: $0.storePath) } ?? entry.object.key
        }
        guard let outcome else {
            var lines = [
                "dry run on \(cache), nothing removed: would remove \(plan.narInfos.count) narinfos, \(plan.nars.count) NARs (\(ByteCount(plan.narBytes))), \(plan.uploads.count) uploads (\(ByteCount(plan.uploadBytes))); \(plan.keptNarInfos) narinfos kept",
            ]
            lines += plan.narInfos.map { "would remove: \(name($0))" }
            lines += plan.nars.map { "would remove NAR: \($0.key) \(ByteCount($0.size))" }
            lines += plan.uploads.map { "would abort upload: \($0.key) (\($0.id)) since \($0.started)" }
            return lines.joined(separator: "\n")
        }
        var lines = [
            "collected \(cache): removed \(outcome.removedNarInfos.count) narinfos, \(outcome.removedNars.count) NARs, \(outcome.abortedUploads.count) uploads; freed \(ByteCount(outcome.bytesFreed)); \(plan.keptNarInfos) narinfos kept",
        ]
        lines += outcome.removedNarInfos.map { "removed: \(name($0))" }
        lines += outcome.renewedMeanwhile.map { "kept, renewed during the gc: \(name($0))" }
        lines += outcome.removedNars.map { "removed NAR: \($0.key) \(ByteCount($0.size))" }
        lines += outcome.abortedUploads.map { "aborted upload: \($0.key) (\($0.id))" }
        lines += outcome.failures.map { "failed: \($0)" }
        return lines.joined(separator: "\n")
    }

    var json: String {
        var object: [String: Any] = ["cache": cache, "dryRun": outcome == nil, "keptNarInfos": plan.keptNarInfos]
        if let outcome {
            object["removedNarInfos"] = outcome.removedNarInfos.map(\.object.key)
            object["removedNars"] = outcome.removedNars.map(\.key)
            object["abortedUploads"] = outcome.abortedUploads.map(\.id)
            object["renewedMeanwhile"] = outcome.renewedMeanwhile.map(\.object.key)
            object["bytesFreed"] = outcome.bytesFreed
            object["failures"] = outcome.failures
        } else {
            object["narInfos"] = plan.narInfos.map(\.object.key)
            object["nars"] = plan.nars.map(\.key)
            object["uploads"] = plan.uploads.map(\.id)
            object["bytes"] = plan.narBytes + plan.narInfoBytes + plan.uploadBytes
        }
        return JSONText.render(object)
    }
}

import ArgumentParser
import BinaryCache
import Foundation
import Logging
import NixStore
import Replication
import SystemSupport

struct BackfillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Publish the closures of store paths, or of the whole store, once.",
        discussion: """
            Reads the paths and their references from the Nix database, leaves out what the \
            cache already has, and uploads the rest references-first: each NAR is read once, \
            checked against the hash Nix recorded, compressed with zstd and streamed to the \
            cache; its narinfo is signed and written last. Exits 1 if any path failed (the \
            others are published), 2 on bad input (nothing is published).

            Examples:
              narsync backfill --to file:///srv/cache --key-file /etc/nix/cache.sec /nix/store/...-hello-2.12
              narsync backfill --to 's3://cache?region=eu-west-1' --key-file key.sec --all --jobs 8
            """
    )

    @OptionGroup(title: "Destination") var publishing: DestinationArguments
    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Logging") var logging: LoggingOptions
    @OptionGroup(title: "Metrics") var metrics: MetricsOptions

    @Option(name: .customLong("metrics-file"), help: ArgumentHelp(
        "When done, write the metrics in Prometheus text format to this file, e.g. for node_exporter's textfile collector.",
        valueName: "file"))
    var metricsFile: String?

    @Flag(help: "Publish every valid path in the store.")
    var all = false

    @Flag(help: "Upload even paths the cache already has, replacing their NARs and narinfos.")
    var repair = false

    @Argument(help: ArgumentHelp("Store paths whose closures to publish, e.g. /nix/store/<hash>-hello-2.12.", valueName: "path"))
    var paths: [String] = []

    func validate() throws {
        if publishing.destination == nil { throw ValidationError("give the cache to publish to with --to (e.g. --to file:///srv/cache)") }
        if publishing.keyFiles.isEmpty { throw ValidationError("give at least one --key-file to sign with (create one with narsync keygen)") }
        if all && !paths.isEmpty { throw ValidationError("give store paths or --all, not both") }
        if !all && paths.isEmpty { throw ValidationError("give the store paths to publish, or --all for the whole store") }
    }

    func run() async throws {
        let interactive = isatty(STDERR_FILENO) == 1
        let logger = logging.makeLogger(label: "narsync.backfill", interactive: interactive)
        let layout = try validatingInput { try store.layout() }
        // Off the async pool: an S3 destination's credential chain may ask STS or instance metadata.
        let opening = BlockingExecutor(threadCount: 1, name: "narsync-open")
        defer { opening.shutdown() }
        let (destination, options) = try await validatingInput { [publishing, repair] in
            try await opening.run { try publishing.resolve(storeDirectory: layout.storeDirectory, repair: repair) }
        }
        let executor = BlockingExecutor(threadCount: options.jobs, name: "narsync-upload")
        defer { executor.shutdown() }

        // Everything the user can get wrong is checked before the first byte is sent.
        let (all, paths) = (all, paths)
        let closure = try await validatingInput {
            try await executor.run { try Self.closure(layout: layout, all: all, paths: paths) }
        }
        // Bad credentials, a missing bucket or an unreachable server show now, as bad input.
        _ = try await validatingInput { try await executor.run { try destination.exists(key: "nix-cache-info") } }

        let publisher = Publisher(
            destination: destination, storeDirectory: layout.storeDirectory,
            physicalPath: layout.physicalPath(of:), options: options, executor: executor,
            realisations: try RealisationStep(layout: layout, signingKeys: options.signingKeys, logger: logger), logger: logger)
        let progressBar = interactive ? ProgressBar() : nil
        let registry = metrics.listen != nil || metricsFile != nil ? MetricsServer.bootstrapRegistry() : nil
        let metricsServer = try metrics.listen.map { listen in
            try validatingInput { try MetricsServer(address: try MetricsAddress(listen), registry: registry!) }
        }
        defer { metricsServer?.stop() }
        let statistics = (destination as? any TransferStatisticsReporting)?.statistics
        let transferMetrics = registry == nil ? nil : statistics.map { TransferMetrics($0, destination: destination.identity.url) }
        var listeners: [any PublishProgress] = []
        if let progressBar { listeners.append(progressBar) }
        if registry != nil { listeners.append(PublishMetrics(destination: destination.identity.url)) }
        let counting = transferMetrics.map { transfers in
            Task { while !Task.isCancelled { transfers.update(); try? await Task.sleep(for: .seconds(1)) } }
        }
        logger.info("backfill starting", metadata: ["paths": "\(closure.count)", "destination": "\(destination.identity)"])
        let plan = try await publisher.plan(closure)
        let summary = try await publisher.publish(plan, progress: listeners.isEmpty ? nil : CombinedProgress(listeners: listeners))
        counting?.cancel()
        transferMetrics?.update()
        progressBar?.finish()
        print(SummaryReport(summary, storeDirectory: layout.storeDirectory, transfers: statistics).text)
        if let metricsFile, let registry {
            do {
                try writeFileAtomically(registry.emitToBuffer(), to: metricsFile)
            } catch {
                printError("cannot write the metrics to \(metricsFile): \(error)")
                throw ExitStatus.partialFailure
            }
        }
        if !summary.succeeded { throw ExitStatus.partialFailure }
    }

    /// The paths to publish: the closures of `paths`, or the whole store (`PublishPlan` orders them).
    private static func closure(layout: StoreLayout, all: Bool, paths: [String]) throws -> [StorePath: ValidPathInfo] {
        let database = try StoreDatabase(layout: layout)
        if all { return Dictionary(uniqueKeysWithValues: try database.allPaths().map { ($0.path, $0) }) }
        let roots = try paths.map { try layout.storeDirectory.parsePath($0) }
        return try database.closure(of: roots)
    }
}

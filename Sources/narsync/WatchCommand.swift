import ArgumentParser
import BinaryCache
import Foundation
import Logging
import NixStore
import Replication
import SystemSupport

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Publish every new valid path as Nix registers it: the always-on service.",
        discussion: """
            Watches the Nix database with inotify and publishes the closures of new valid paths, \
            however they got there (built, substituted, added), dependencies first. Its manifest \
            in the state directory records the last database row handled, the queue, what is \
            published and the multipart uploads in flight, so a restart, even after kill -9, \
            loses nothing and resumes large uploads.

            With no --to it publishes to file://STATE-DIR/cache; with no --key-file it signs with \
            STATE-DIR/signing-key.sec, created on first start. It prints the nix.conf lines that \
            make other machines use the cache.

            On its first start it publishes paths registered from then on; --initial-backfill \
            publishes the whole store first. SIGTERM or SIGINT: finish uploads in flight, exit 0.
            """
    )

    @Option(name: .customLong("config"), help: ArgumentHelp(
        "Configuration file; its settings give way to NARSYNC_* variables and flags (default: \(ConfigurationFile.defaultPath), if it exists).",
        valueName: "file"))
    var configurationFile: String?

    @OptionGroup(title: "Destination") var publishing: PublishingOptions
    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Service") var service: ServiceOptions
    @OptionGroup(title: "Logging") var logging: LoggingOptions
    @OptionGroup(title: "Metrics") var metrics: MetricsOptions

    @Flag(help: "On the very first start, publish every valid path, not only new ones.")
    var initialBackfill = false

    @Option(name: .customLong("include"), help: ArgumentHelp("Publish only paths whose name matches this glob (repeatable), e.g. 'hello-*'.", valueName: "glob"))
    var includes: [String] = []

    @Option(name: .customLong("exclude"), help: ArgumentHelp("Do not publish paths whose name matches this glob (repeatable), e.g. '*-source'.", valueName: "glob"))
    var excludes: [String] = []

    @Flag(help: "Publish store derivations (.drv files) too; they are skipped by default.")
    var keepDerivations = false

    @Option(name: .customLong("skip-signed-by"), help: ArgumentHelp(
        "Skip paths that already carry a signature of this key, e.g. cache.nixos.org-1 (repeatable).", valueName: "key-name"))
    var skipSignedBy: [String] = []

    @Option(name: .customLong("debounce-ms"), help: "Milliseconds of quiet in the database before a batch starts.")
    var debounceMilliseconds = 100

    @Option(name: .customLong("recheck-seconds"), help: "Seconds between re-reads of the database when inotify says nothing.")
    var recheckSeconds = 30

    func validate() throws {
        guard (1...60_000).contains(debounceMilliseconds) else { throw ValidationError("--debounce-ms must be between 1 and 60000") }
        guard (1...86_400).contains(recheckSeconds) else { throw ValidationError("--recheck-seconds must be between 1 and 86400") }
    }

    func run() async throws {
        try await Self.run([self])
    }

    /// Runs one replication service per command, each with its own destination, keys, filters
    /// and jobs, all sharing the store, the state directory and its manifest (which keeps a
    /// watermark and queue per destination). `commands` differ only in destination settings:
    /// they are config.toml's `[[destination]]` tables under the same top-level settings.
    static func run(_ commands: [WatchCommand]) async throws {
        let first = commands[0]
        let logger = first.logging.makeLogger(label: "narsync.watch", interactive: false)
        let layout = try validatingInput { try first.store.layout() }
        let stateDirectory = first.service.stateDirectory
        let manifest = try validatingInput { AsyncManifest(try Manifest(stateDirectory: stateDirectory)) }
        let metricsServer = try first.metrics.listen.map { listen in
            try validatingInput { try MetricsServer.start(try MetricsAddress(listen)) }
        }
        defer { metricsServer?.stop() }
        if let metricsServer { logger.info("serving metrics", metadata: ["url": "http://\(metricsServer.address)/metrics"]) }

        var gauges = ServiceGauges(destinations: [], manifest: manifest, layout: layout)
        var services: [ReplicationService] = []
        var executors: [BlockingExecutor] = []
        defer { for executor in executors { executor.shutdown() } }
        for command in commands {
            let (url, keyFiles) = try validatingInput { try command.zeroConfiguration(stateDirectory: stateDirectory) }
            let (destination, options) = try validatingInput {
                try command.publishing.resolve(storeDirectory: layout.storeDirectory, repair: false, url: url, keyFiles: keyFiles)
            }
            let executor = BlockingExecutor(threadCount: options.jobs, name: "narsync-upload")
            executors.append(executor)
            let destinationName = "\(destination)"
            let publisher = Publisher(
                destination: destination, storeDirectory: layout.storeDirectory, physicalPath: layout.physicalPath(of:),
                options: options, executor: executor, journal: manifest.manifest.journal(for: destinationName), logger: logger)
            var watchOptions = command.watchOptions(destinationName: destinationName)
            if metricsServer != nil {
                watchOptions.progress = PublishMetrics(destination: destinationName)
                let statistics = (destination as? any TransferStatisticsReporting)?.statistics
                gauges.destinations.append(.init(
                    name: destinationName, transfers: statistics.map { TransferMetrics($0, destination: destinationName) }))
            }
            services.append(ReplicationService(
                layout: layout, publisher: publisher, manifest: manifest, options: watchOptions,
                logger: logger, notifier: try? SystemdNotifier()))
        }
        let sampling = metricsServer == nil ? nil : Task { [gauges] in await gauges.run() }
        defer { sampling?.cancel() }

        let signals = try await SignalEvents.start()
        defer { signals.cancel() }
        let signalHandling = Task { [services] in
            for await event in signals.events {
                switch event {
                case .stop: for service in services { service.stop() }
                case .reload: Self.checkConfigurationAgain(logger: logger)
                }
            }
        }
        defer { signalHandling.cancel() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services { group.addTask { try await service.run() } }
            // One destination failing stops the others, so systemd restarts them all.
            do {
                try await group.waitForAll()
            } catch {
                for service in services { service.stop() }
                throw error
            }
        }
    }

    private func watchOptions(destinationName: String) -> WatchOptions {
        WatchOptions(
            destinationName: destinationName,
            filter: PathFilter(includes: includes, excludes: excludes, includeDerivations: keepDerivations, skipSignedBy: Set(skipSignedBy)),
            initialBackfill: initialBackfill,
            timing: WatchTiming(debounceWindow: .milliseconds(debounceMilliseconds), recheckInterval: .seconds(recheckSeconds)))
    }

    /// SIGHUP: reads the configuration file again and says whether it is valid. The running
    /// configuration stays either way; a valid new one takes effect at the next start.
    private static func checkConfigurationAgain(logger: Logger) {
        let commandLine = Array(CommandLine.arguments.drop { $0 != "watch" }.dropFirst())
        let layered: LayeredArguments
        do {
            layered = try LayeredArguments(commandLine: commandLine, environment: ProcessInfo.processInfo.environment)
        } catch {
            logger.error("SIGHUP: keeping the running configuration: \(error)")
            return
        }
        for (index, arguments) in layered.destinations.enumerated() {
            do {
                _ = try WatchCommand.parse(arguments)
            } catch {
                logger.error("SIGHUP: keeping the running configuration: \(layered.annotated(WatchCommand.message(for: error), destination: index))")
                return
            }
        }
        logger.notice("SIGHUP: the configuration is valid; restart narsync to apply changes",
                      metadata: ["file": "\(layered.configurationPath ?? "none")"])
    }

    /// The destination and keys to use, creating the defaults under the state directory when
    /// none are given, and telling the user how to trust them.
    private func zeroConfiguration(stateDirectory: String) throws -> (url: String, keyFiles: [String]) {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let url = publishing.destination ?? "file://\(stateDirectory)/cache"
        guard publishing.keyFiles.isEmpty else { return (url, publishing.keyFiles) }
        let secretFile = "\(stateDirectory)/signing-key.sec", publicFile = "\(stateDirectory)/signing-key.pub"
        if !FileManager.default.fileExists(atPath: secretFile) {
            let key = try SecretKey.generate(name: "\(ProcessInfo.processInfo.hostName)-1")
            try writeFileAtomically(Array(key.serialized.utf8), to: secretFile, mode: 0o600, replace: false)
            try writeFileAtomically(Array(key.publicKey.serialized.utf8), to: publicFile, mode: 0o644)
        }
        let publicKey = try SecretKey(contentsOfFile: secretFile).publicKey
        // Written at once (not buffered like print) so it shows before the service's log lines.
        FileHandle.standardOutput.write(Data("""
            narsync: publishing to \(url), signed with \(secretFile)
            narsync: add to nix.conf on machines that should use this cache:
              substituters = \(url)
              trusted-public-keys = \(publicKey.serialized)

            """.utf8))
        return (url, [secretFile])
    }
}

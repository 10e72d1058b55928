import ArgumentParser
import BinaryCache
import Foundation
import Hook
import Logging
import NarsyncConfiguration
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

    @Option(name: .customLong("retry-initial-seconds"), help: "Seconds a path waits after its first failed attempt; the wait doubles with each failure, up to an hour.")
    var retryInitialSeconds = 10.0

    @Option(name: .customLong("grace-seconds"), help: "Seconds uploads in flight may take to finish after SIGTERM; the next start resumes what is left.")
    var graceSeconds = 30.0

    @Option(name: .customLong("database-busy-seconds"), help: "Seconds a read of the Nix database waits for another process's lock before it is logged as failed and tried again later.")
    var databaseBusySeconds = 60.0

    @Option(name: .customLong("abort-uploads-after-hours"), help: "At start, abort multipart uploads recorded for longer than this many hours.")
    var abortUploadsAfterHours = 24.0

    @Option(name: .customLong("hook-socket"), help: ArgumentHelp(
        "Unix socket where `narsync hook` hands over built paths; 'none' to not listen.", valueName: "path"))
    var hookSocket = HookServer.Configuration.defaultSocketPath

    @Option(name: .customLong("spool-dir"), help: ArgumentHelp(
        "Where `narsync hook` spools requests while the service is down; drained at start. Default: STATE-DIR/spool.", valueName: "dir"))
    var spoolDirectory: String?

    @Option(name: .customLong("hook-trust-user"), help: ArgumentHelp(
        "A user (name or uid) besides root whose hook requests are accepted (repeatable).", valueName: "user"))
    var hookTrustUsers: [String] = []

    @Option(name: .customLong("hook-trust-group"), help: ArgumentHelp(
        "A group (name or gid) whose members' hook requests are accepted (repeatable); also owns the socket.", valueName: "group"))
    var hookTrustGroups: [String] = []

    func validate() throws {
        guard (1...60_000).contains(debounceMilliseconds) else { throw ValidationError("--debounce-ms must be between 1 and 60000") }
        guard (1...86_400).contains(recheckSeconds) else { throw ValidationError("--recheck-seconds must be between 1 and 86400") }
        guard (0.001...3600).contains(retryInitialSeconds) else { throw ValidationError("--retry-initial-seconds must be between 0.001 and 3600") }
        guard (0...3600).contains(graceSeconds) else { throw ValidationError("--grace-seconds must be between 0 and 3600") }
        guard (0.001...3600).contains(databaseBusySeconds) else { throw ValidationError("--database-busy-seconds must be between 0.001 and 3600") }
        guard abortUploadsAfterHours >= 0 else { throw ValidationError("--abort-uploads-after-hours must not be negative") }
    }

    func run() async throws {
        try await Self.run([self])
    }

    /// Runs one replication service per command, each with its own destination, keys, filters
    /// and jobs, all sharing the store, the state directory and its manifest (which keeps a
    /// watermark and queue per destination). `commands` differ only in destination settings:
    /// they are config.toml's `[[destination]]` tables under the same top-level settings.
    ///
    /// SIGHUP reads the configuration again; if it is valid, the services finish their uploads
    /// in flight and start again with it. Logging and the metrics address stay as started.
    static func run(_ commands: [WatchCommand]) async throws {
        let first = commands[0]
        let logger = first.logging.makeLogger(label: "narsync.watch", interactive: false)
        let metricsServer = try first.metrics.listen.map { listen in
            try validatingInput { try MetricsServer.start(try MetricsAddress(listen)) }
        }
        defer { metricsServer?.stop() }
        if let metricsServer { logger.info("serving metrics", metadata: ["url": "http://\(metricsServer.address)/metrics"]) }

        let control = WatchControl()
        let signals = try SignalEvents.start()
        defer { signals.cancel() }
        let signalHandling = Task {
            for await event in signals.events {
                switch event {
                case .stop: control.stop()
                case .reload: if let arguments = configurationAgain(logger: logger) { control.reload(arguments) }
                }
            }
        }
        defer { signalHandling.cancel() }

        var running = commands
        let metrics = metricsServer != nil
        var generation = try await validatingInput { try await ServiceGeneration.open(running, logger: logger, metrics: metrics) }
        while true {
            try await generation.run(control: control)
            generation.shutdown()
            guard let arguments = control.takeReload() else { return }
            do {
                let next = try arguments.map { try WatchCommand.parse($0) }
                generation = try await ServiceGeneration.open(next, logger: logger, metrics: metrics)
                if next[0].logging.level != first.logging.level || next[0].logging.format != first.logging.format
                    || next[0].metrics.listen != first.metrics.listen {
                    logger.notice("SIGHUP: log-level, log-format and metrics.listen change at the next start")
                }
                running = next
                logger.notice("SIGHUP: reloaded the configuration", metadata: ["destinations": "\(next.count)"])
            } catch {
                logger.error("SIGHUP: keeping the running configuration: \(error)")
                generation = try await ServiceGeneration.open(running, logger: logger, metrics: metrics)
            }
        }
    }

    func watchOptions(destinationName: String) -> WatchOptions {
        WatchOptions(
            destinationName: destinationName,
            filter: PathFilter(includes: includes, excludes: excludes, includeDerivations: keepDerivations, skipSignedBy: Set(skipSignedBy)),
            initialBackfill: initialBackfill,
            timing: WatchTiming(debounceWindow: .milliseconds(debounceMilliseconds), recheckInterval: .seconds(recheckSeconds)),
            gracePeriod: .seconds(graceSeconds), staleUploadAge: .seconds(abortUploadsAfterHours * 3600),
            databaseBusyTimeout: .seconds(databaseBusySeconds))
    }

    /// SIGHUP: the arguments of each destination from the configuration as it is now, or nil
    /// (logged) if it is not valid: then the running configuration stays.
    private static func configurationAgain(logger: Logger) -> [[String]]? {
        let commandLine = Array(CommandLine.arguments.drop { $0 != "watch" }.dropFirst())
        let layered: LayeredArguments
        do {
            layered = try LayeredArguments(commandLine: commandLine, environment: ProcessInfo.processInfo.environment)
        } catch {
            logger.error("SIGHUP: keeping the running configuration: \(error)")
            return nil
        }
        for (index, arguments) in layered.destinations.enumerated() {
            do {
                _ = try WatchCommand.parse(arguments)
            } catch {
                logger.error("SIGHUP: keeping the running configuration: \(layered.annotated(WatchCommand.message(for: error), destination: index))")
                return nil
            }
        }
        return layered.destinations
    }

    /// A destination URL that two of `commands` name, if any: the manifest keeps one queue per
    /// destination, so two services on it would publish the same paths.
    static func destinationGivenTwice(_ commands: [WatchCommand]) -> String? {
        var seen: Set<String> = []
        for command in commands {
            let url = command.publishing.destination ?? "file://\(command.service.stateDirectory)/cache"
            if !seen.insert(url).inserted { return url }
        }
        return nil
    }

    /// Listens for `narsync hook` and drains its spool, feeding both into every service's queue.
    func startHookServer(
        _ services: [ReplicationService], stateDirectory: String, layout: StoreLayout, logger: Logger
    ) throws -> HookServer? {
        guard hookSocket != "none" else { return nil }
        let groups = try hookTrustGroups.map(Self.groupID)
        let trust = HookTrust(users: Set(try hookTrustUsers.map(Self.userID)), groups: Set(groups))
        let configuration = HookServer.Configuration(
            socketPath: hookSocket, socketGroup: groups.first, trust: trust,
            spool: Spool(directory: spoolDirectory ?? "\(stateDirectory)/spool"), storeDirectory: layout.storeDirectory)
        return try HookServer(configuration: configuration, logger: logger) { outputs, derivation in
            try services.map { try $0.enqueueBuild(outputs: outputs, derivation: derivation) }.max() ?? 0
        }
    }

    private static func userID(_ name: String) throws -> uid_t {
        if let id = uid_t(name) { return id }
        guard let entry = getpwnam(name) else { throw ValidationError("--hook-trust-user: no user named '\(name)'") }
        return entry.pointee.pw_uid
    }

    private static func groupID(_ name: String) throws -> gid_t {
        if let id = gid_t(name) { return id }
        guard let entry = getgrnam(name) else { throw ValidationError("--hook-trust-group: no group named '\(name)'") }
        return entry.pointee.gr_gid
    }

    /// The destination and keys to use, creating the defaults under the state directory when
    /// none are given, and telling the user how to trust them.
    func zeroConfiguration(stateDirectory: String) throws -> (url: String, keyFiles: [String]) {
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

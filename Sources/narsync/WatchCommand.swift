import ArgumentParser
import BinaryCache
import Foundation
import Hook
import Logging
import NarsyncConfiguration
import NarsyncService
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

    @OptionGroup(title: "Destination") var publishing: DestinationArguments
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
    /// The command line only builds the `ServiceConfiguration`; `ReplicationSupervisor` runs it,
    /// stops on SIGTERM, and on SIGHUP takes the configuration as it is then (logging and the
    /// metrics address stay as started).
    static func run(_ commands: [WatchCommand]) async throws {
        let first = commands[0]
        let logger = first.logging.makeLogger(label: "narsync.watch", interactive: false)
        let metricsServer = try first.metrics.listen.map { listen in
            try validatingInput { try MetricsServer.start(try MetricsAddress(listen)) }
        }
        defer { metricsServer?.stop() }
        if let metricsServer { logger.info("serving metrics", metadata: ["url": "http://\(metricsServer.address)/metrics"]) }
        let metrics = metricsServer != nil

        let configuration = try validatingInput { try serviceConfiguration(commands, metrics: metrics) }
        let supervisor = ReplicationSupervisor(configuration: configuration, logger: logger) {
            try reloadedConfiguration(startedWith: first, metrics: metrics, logger: logger)
        }
        do {
            try await supervisor.runService(alongside: metrics ? [ServiceGauges(supervisor: supervisor)] : [])
        } catch let error as ServiceStartError {
            // The state directory is taken, the manifest cannot be written, the socket is in use.
            printError("\(error)")
            throw ExitStatus.badInput
        }
    }

    /// The service `commands` describe: the default destination and key created if none are
    /// given, keys loaded and destinations opened. Whatever the user got wrong throws here.
    static func serviceConfiguration(_ commands: [WatchCommand], metrics: Bool) throws -> ServiceConfiguration {
        let first = commands[0]
        let layout = try first.store.layout()
        let stateDirectory = first.service.stateDirectory
        if let twice = destinationGivenTwice(commands) {
            throw ValidationError(ServiceConfigurationError.destinationGivenTwice(twice).description)
        }
        // Before the default key and cache are created in it.
        try Manifest.requireWritable(stateDirectory: stateDirectory)
        let destinations = try commands.map { command in
            let (url, keyFiles) = try command.zeroConfiguration(stateDirectory: stateDirectory)
            let (destination, publishing) = try command.publishing.resolve(
                storeDirectory: layout.storeDirectory, repair: false, url: url, keyFiles: keyFiles)
            var replication = command.replicationConfiguration()
            if metrics { replication.progress = PublishMetrics(destination: destination.identity.url) }
            return ServiceConfiguration.Destination(destination: destination, publishing: publishing, replication: replication)
        }
        return ServiceConfiguration(
            layout: layout, stateDirectory: stateDirectory, retryPolicy: RetryPolicy(initial: .seconds(first.retryInitialSeconds)),
            destinations: destinations, hook: try first.hookConfiguration(stateDirectory: stateDirectory, layout: layout))
    }

    /// SIGHUP: the service the configuration describes now, or an error naming what is wrong
    /// with it (the supervisor logs it and keeps the running configuration).
    private static func reloadedConfiguration(startedWith first: WatchCommand, metrics: Bool, logger: Logger) throws -> ServiceConfiguration {
        let commandLine = Array(CommandLine.arguments.drop { $0 != "watch" }.dropFirst())
        let layered = try LayeredArguments(commandLine: commandLine, environment: ProcessInfo.processInfo.environment)
        var commands: [WatchCommand] = []
        for (index, arguments) in layered.destinations.enumerated() {
            do {
                commands.append(try WatchCommand.parse(arguments))
            } catch {
                throw ValidationError(layered.annotated(WatchCommand.message(for: error), destination: index))
            }
        }
        if commands[0].logging.level != first.logging.level || commands[0].logging.format != first.logging.format
            || commands[0].metrics.listen != first.metrics.listen {
            logger.notice("SIGHUP: log-level, log-format and metrics.listen change at the next start")
        }
        return try serviceConfiguration(commands, metrics: metrics)
    }

    /// How this destination's service watches and what it publishes.
    func replicationConfiguration() -> ReplicationService.Configuration {
        ReplicationService.Configuration(
            filter: PathFilter(includes: includes, excludes: excludes, includeDerivations: keepDerivations, skipSignedBy: Set(skipSignedBy)),
            initialBackfill: initialBackfill,
            timing: WatchTiming(debounceWindow: .milliseconds(debounceMilliseconds), recheckInterval: .seconds(recheckSeconds)),
            gracePeriod: .seconds(graceSeconds), staleUploadAge: .seconds(abortUploadsAfterHours * 3600),
            databaseBusyTimeout: .seconds(databaseBusySeconds))
    }

    /// A destination that two of `commands` name, if any, by identity (endpoint, region and
    /// profile included): the manifest keeps one queue per destination, so two services on it
    /// would publish the same paths. A URL that cannot be read is reported when it is opened.
    static func destinationGivenTwice(_ commands: [WatchCommand]) -> DestinationIdentity? {
        var seen: Set<DestinationIdentity> = []
        for command in commands {
            let url = command.publishing.destination ?? "file://\(command.service.stateDirectory)/cache"
            guard let identity = try? DestinationIdentity(parsing: url) else { continue }
            if !seen.insert(identity).inserted { return identity }
        }
        return nil
    }

    /// Where `narsync hook` hands over built paths and spools them while the service is down;
    /// nil with `--hook-socket none`.
    func hookConfiguration(stateDirectory: String, layout: StoreLayout) throws -> HookServer.Configuration? {
        guard hookSocket != "none" else { return nil }
        let groups = try hookTrustGroups.map(Self.groupID)
        let trust = HookTrust(users: Set(try hookTrustUsers.map(Self.userID)), groups: Set(groups))
        return HookServer.Configuration(
            socketPath: hookSocket, socketGroup: groups.first, trust: trust,
            spool: Spool(directory: spoolDirectory ?? "\(stateDirectory)/spool"), storeDirectory: layout.storeDirectory)
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

import ArgumentParser
import Foundation
import Hook
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

    @OptionGroup(title: "Destination") var publishing: PublishingOptions
    @OptionGroup(title: "Store") var store: StoreOptions
    @OptionGroup(title: "Service") var service: ServiceOptions
    @OptionGroup(title: "Logging") var logging: LoggingOptions

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
        guard abortUploadsAfterHours >= 0 else { throw ValidationError("--abort-uploads-after-hours must not be negative") }
    }

    func run() async throws {
        let logger = logging.makeLogger(label: "narsync.watch", interactive: false)
        let layout = try validatingInput { try store.layout() }
        let stateDirectory = service.stateDirectory
        let (url, keyFiles) = try validatingInput { try zeroConfiguration(stateDirectory: stateDirectory) }
        let (destination, options) = try validatingInput {
            try publishing.resolve(storeDirectory: layout.storeDirectory, repair: false, url: url, keyFiles: keyFiles)
        }
        let manifest = try validatingInput { AsyncManifest(try Manifest(
            stateDirectory: stateDirectory, retryPolicy: RetryPolicy(initial: .seconds(retryInitialSeconds)))) }

        let executor = BlockingExecutor(threadCount: options.jobs, name: "narsync-upload")
        defer { executor.shutdown() }
        let destinationName = "\(destination)"
        let publisher = Publisher(
            destination: destination, storeDirectory: layout.storeDirectory, physicalPath: layout.physicalPath(of:),
            options: options, executor: executor, journal: manifest.manifest.journal(for: destinationName), logger: logger)
        let watchOptions = WatchOptions(
            destinationName: destinationName,
            filter: PathFilter(includes: includes, excludes: excludes, includeDerivations: keepDerivations, skipSignedBy: Set(skipSignedBy)),
            initialBackfill: initialBackfill,
            timing: WatchTiming(debounceWindow: .milliseconds(debounceMilliseconds), recheckInterval: .seconds(recheckSeconds)),
            gracePeriod: .seconds(graceSeconds), staleUploadAge: .seconds(abortUploadsAfterHours * 3600))
        let replication = ReplicationService(
            layout: layout, publisher: publisher, manifest: manifest, options: watchOptions, logger: logger,
            notifier: try? SystemdNotifier())

        let hookServer = try validatingInput { try startHookServer(replication, stateDirectory: stateDirectory, layout: layout, logger: logger) }
        defer { hookServer?.shutdown() }

        let signals = try await SignalEvents.start()
        defer { signals.cancel() }
        let signalHandling = Task {
            for await event in signals.events {
                switch event {
                case .stop: replication.stop()
                case .reload: logger.notice("SIGHUP: the configuration is the command line; nothing to reload")
                }
            }
        }
        defer { signalHandling.cancel() }
        try await replication.run()
    }

    /// Listens for `narsync hook` and drains its spool, feeding both into the service's queue.
    private func startHookServer(
        _ replication: ReplicationService, stateDirectory: String, layout: StoreLayout, logger: Logger
    ) throws -> HookServer? {
        guard hookSocket != "none" else { return nil }
        let groups = try hookTrustGroups.map(Self.groupID)
        let trust = HookTrust(users: Set(try hookTrustUsers.map(Self.userID)), groups: Set(groups))
        let configuration = HookServer.Configuration(
            socketPath: hookSocket, socketGroup: groups.first, trust: trust,
            spool: Spool(directory: spoolDirectory ?? "\(stateDirectory)/spool"), storeDirectory: layout.storeDirectory)
        return try HookServer(configuration: configuration, logger: logger) { outputs, derivation in
            try replication.enqueueBuild(outputs: outputs, derivation: derivation)
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

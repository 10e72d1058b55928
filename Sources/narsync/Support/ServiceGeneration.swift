import ArgumentParser
import BinaryCache
import Hook
import Logging
import NixStore
import Replication
import SystemSupport

/// The replication services of one configuration, one per destination, over one manifest;
/// SIGHUP ends a generation and starts the next.
struct ServiceGeneration: Sendable {
    private let services: [ReplicationService]
    private let executors: [BlockingExecutor]
    private let gauges: ServiceGauges?
    /// `narsync hook`'s socket and spool, feeding every service of this generation.
    private let hookServer: HookServer?
    /// Held from before the manifest opens until `shutdown`, so a second `watch` on the same
    /// state directory refuses to start instead of sharing its queue.
    private let lock: StateDirectoryLock

    /// `init` on a thread of its own, off the async pool: opening S3 destinations runs their
    /// credential chains, which may ask STS, the container agent or instance metadata.
    static func open(_ commands: [WatchCommand], logger: Logger, metrics: Bool) async throws -> ServiceGeneration {
        let opener = BlockingExecutor(threadCount: 1, name: "narsync-open")
        defer { opener.shutdown() }
        return try await opener.run { try ServiceGeneration(commands, logger: logger, metrics: metrics) }
    }

    /// Opens the manifest, keys and destinations: whatever the configuration gets wrong throws here.
    init(_ commands: [WatchCommand], logger: Logger, metrics: Bool) throws {
        let first = commands[0]
        let layout = try first.store.layout()
        let stateDirectory = first.service.stateDirectory
        if let twice = WatchCommand.destinationGivenTwice(commands) {
            throw ValidationError("two [[destination]] tables publish to \(twice); they would share one queue")
        }
        lock = try StateDirectoryLock(stateDirectory: stateDirectory)
        let manifest = AsyncManifest(try Manifest(
            stateDirectory: stateDirectory, retryPolicy: RetryPolicy(initial: .seconds(first.retryInitialSeconds))))
        var gauges = ServiceGauges(destinations: [], manifest: manifest, layout: layout)
        var services: [ReplicationService] = []
        var executors: [BlockingExecutor] = []
        do {
            for command in commands {
                let (url, keyFiles) = try command.zeroConfiguration(stateDirectory: stateDirectory)
                let (destination, options) = try command.publishing.resolve(
                    storeDirectory: layout.storeDirectory, repair: false, url: url, keyFiles: keyFiles)
                let executor = BlockingExecutor(threadCount: options.jobs, name: "narsync-upload")
                executors.append(executor)
                let name = "\(destination)"
                let credentials = (destination as? S3Destination)?.credentials
                credentials?.onChange { status in
                    CredentialStatusFile.write(status, destination: name, stateDirectory: stateDirectory)
                }
                let publisher = Publisher(
                    destination: destination, storeDirectory: layout.storeDirectory, physicalPath: layout.physicalPath(of:),
                    options: options, executor: executor, journal: manifest.manifest.journal(for: name), logger: logger)
                var watchOptions = command.watchOptions(destinationName: name)
                if metrics {
                    watchOptions.progress = PublishMetrics(destination: name)
                    let statistics = (destination as? any TransferStatisticsReporting)?.statistics
                    gauges.destinations.append(.init(
                        name: name, transfers: statistics.map { TransferMetrics($0, destination: name) },
                        credentials: credentials.map { CredentialMetrics($0, destination: name) }))
                }
                services.append(ReplicationService(
                    layout: layout, publisher: publisher, manifest: manifest, options: watchOptions,
                    logger: logger, notifier: try? SystemdNotifier()))
            }
        } catch {
            for executor in executors { executor.shutdown() }
            throw error
        }
        do {
            hookServer = try first.startHookServer(services, stateDirectory: stateDirectory, layout: layout, logger: logger)
        } catch {
            for executor in executors { executor.shutdown() }
            throw error
        }
        self.services = services
        self.executors = executors
        self.gauges = metrics ? gauges : nil
    }

    /// Runs the services until `control` stops them. One destination failing stops the
    /// others, so that systemd restarts them all.
    func run(control: WatchControl) async throws {
        let sampling = gauges.map { gauges in Task { await gauges.run() } }
        defer { sampling?.cancel() }
        control.running(services)
        let services = services
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in services { group.addTask { try await service.run() } }
            do {
                try await group.waitForAll()
            } catch {
                for service in services { service.stop() }
                throw error
            }
        }
    }

    func shutdown() {
        hookServer?.shutdown()
        for executor in executors { executor.shutdown() }
        lock.release()
    }
}

/// What the signal handler acts on: the services running now, and the configuration to switch
/// to. A stop that arrives between two generations stops the next one at once.
final class WatchControl: Sendable {
    private struct State {
        var services: [ReplicationService] = []
        var reload: [[String]]?
        var stopping = false
    }

    private let state = Locked(State())

    func running(_ services: [ReplicationService]) {
        let stopping = state.withLock { state in
            state.services = services
            return state.stopping
        }
        if stopping { for service in services { service.stop() } }
    }

    /// SIGTERM: the services finish their uploads in flight and the command ends.
    func stop() {
        let services = state.withLock { state in
            state.stopping = true
            state.reload = nil
            return state.services
        }
        for service in services { service.stop() }
    }

    /// SIGHUP with a valid configuration: the services finish their uploads in flight, then
    /// start again with `arguments` (one argument vector per destination).
    func reload(_ arguments: [[String]]) {
        let services = state.withLock { state -> [ReplicationService] in
            guard !state.stopping else { return [] }
            state.reload = arguments
            return state.services
        }
        for service in services { service.stop() }
    }

    /// The configuration to start next, if a reload ended the generation.
    func takeReload() -> [[String]]? {
        state.withLock { state in
            defer { state.reload = nil }
            return state.reload
        }
    }
}

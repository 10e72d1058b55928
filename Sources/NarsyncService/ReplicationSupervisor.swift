import BinaryCache
import Logging
import Replication
import ServiceLifecycle
import SystemSupport
import UnixSignals

/// `narsync watch` in one place: runs one `ReplicationService` per destination and the hook
/// server feeding them (a `ServiceGeneration`), reloads the configuration on SIGHUP, stops
/// gracefully on SIGTERM and SIGINT, and tells systemd how it is doing (sd_notify).
///
/// A swift-service-lifecycle `Service`: `runService()` runs it in a `ServiceGroup` that turns
/// SIGTERM and SIGINT into a graceful shutdown, in which each service finishes its uploads in
/// flight within its grace period. SIGHUP calls `reload`; a configuration that does not load,
/// or whose generation does not start, is logged and the running one stays.
public final class ReplicationSupervisor: Service, ReplicationServiceObserver, Sendable {
    /// Reads the configuration again (SIGHUP). Runs on a thread of its own; throws, with a
    /// message for the log, if the configuration is not valid.
    public typealias Reload = @Sendable () throws -> ServiceConfiguration

    private let configuration: ServiceConfiguration
    private let reload: Reload
    private let logger: Logger
    private let notifier: SystemdNotifier?
    /// Opens manifests, sockets and destinations, off Swift's cooperative pool.
    private let opener = BlockingExecutor(threadCount: 1, name: "narsync-supervisor")
    private let state = Locked(State())

    private struct State {
        var generation: ServiceGeneration?
        /// The configuration a SIGHUP loaded, to start once the running generation has stopped.
        var next: ServiceConfiguration?
        var stopping = false
        /// The running generation's destinations that are watching, for READY=1.
        var watching: Set<DestinationIdentity> = []
        var destinationCount = 0
        /// The latest status of each destination, for STATUS=.
        var statuses: [DestinationIdentity: ManifestStatus] = [:]
    }

    public init(configuration: ServiceConfiguration, logger: Logger, reload: @escaping Reload) {
        self.configuration = configuration
        self.reload = reload
        self.logger = logger
        notifier = try? SystemdNotifier()
    }

    deinit { opener.shutdown() }

    /// Runs the supervisor, and `services` beside it (a metrics sampler), in a `ServiceGroup`
    /// that shuts down gracefully on SIGTERM and SIGINT, until the supervisor returns.
    public func runService(alongside services: [any Service] = []) async throws {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            // Shut down in reverse order: the supervisor first, then what samples it.
            services: services.map { .init(service: $0) } + [.init(service: self)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Runs generation after generation until a graceful shutdown (or `stop()`).
    public func run() async throws {
        // Trapped before anything starts, so that no SIGHUP finds its default action (exit).
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let reloads = Task {
            for await _ in hangups { await self.reloadRequested() }
        }
        defer { reloads.cancel() }
        let watchdog = startWatchdog()
        defer { watchdog?.cancel() }
        try await withGracefulShutdownHandler {
            try await self.runGenerations()
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Asks the services to finish their uploads in flight and `run()` to return.
    public func stop() {
        let generation = state.withLock { state in
            state.stopping = true
            state.next = nil
            return state.generation
        }
        try? notifier?.stopping()
        generation?.stop()
    }

    /// What each running destination's service reports, for metrics; nil figures for a
    /// destination whose manifest or database could not be read this time.
    public func figures() async -> [(destination: any BinaryCacheDestination, figures: ServiceFigures?)] {
        let services = state.withLock { $0.generation?.services ?? [] }
        var figures: [(destination: any BinaryCacheDestination, figures: ServiceFigures?)] = []
        for service in services { figures.append((service.destination, try? await service.figures())) }
        return figures
    }

    // MARK: - Generations

    private func runGenerations() async throws {
        var running = configuration
        var generation: ServiceGeneration
        do {
            generation = try await start(running)
        } catch {
            throw ServiceStartError(underlying: error)
        }
        while true {
            try await generation.run()
            generation.shutdown()
            let next = state.withLock { state in
                defer { state.next = nil }
                state.generation = nil
                return state.next
            }
            guard let next else { return }
            do {
                generation = try await start(next)
                running = next
                logger.notice("SIGHUP: reloaded the configuration", metadata: ["destinations": "\(next.destinations.count)"])
            } catch {
                logger.error("SIGHUP: keeping the running configuration: \(error)")
                generation = try await start(running)
            }
        }
    }

    private func start(_ configuration: ServiceConfiguration) async throws -> ServiceGeneration {
        let logger = logger, observer = notifier?.isEnabled == true ? self : nil
        let generation = try await opener.run { try ServiceGeneration(configuration, observer: observer, logger: logger) }
        let stopping = state.withLock { state in
            state.generation = generation
            state.watching = []
            state.statuses = [:]
            state.destinationCount = generation.services.count
            return state.stopping
        }
        // A stop that came while the generation was opening stops it at once.
        if stopping { generation.stop() }
        return generation
    }

    /// SIGHUP: loads the configuration and, if it is valid, lets the running generation
    /// finish its uploads in flight so that the next one starts with it.
    private func reloadRequested() async {
        let configuration: ServiceConfiguration
        do {
            let reload = reload
            configuration = try await opener.run { try reload() }
            if let twice = configuration.destinationGivenTwice { throw ServiceConfigurationError.destinationGivenTwice(twice) }
        } catch {
            logger.error("SIGHUP: keeping the running configuration: \(error)")
            return
        }
        let generation = state.withLock { state -> ServiceGeneration? in
            guard !state.stopping else { return nil }
            state.next = configuration
            return state.generation
        }
        guard let generation else { return }
        try? notifier?.reloading()
        generation.stop()
    }

    // MARK: - systemd

    public func serviceIsWatching(_ destination: DestinationIdentity) {
        let allWatching = state.withLock { state in
            state.watching.insert(destination)
            return state.watching.count == state.destinationCount
        }
        if allWatching { try? notifier?.ready() }
    }

    public func serviceIsIdle(_ destination: DestinationIdentity, status: ManifestStatus) {
        let statuses = state.withLock { state in
            state.statuses[destination] = status
            return Array(state.statuses.values)
        }
        let (queued, retrying, published) = statuses.reduce((0, 0, 0)) { ($0.0 + $1.queued, $0.1 + $1.retrying, $0.2 + $1.published) }
        try? notifier?.status("\(queued) queued, \(retrying) retrying, \(published) published")
    }

    private func startWatchdog() -> Task<Void, Never>? {
        guard let notifier, let interval = notifier.watchdogInterval else { return nil }
        return Task {
            while !Task.isCancelled {
                try? notifier.watchdog()
                try? await Task.sleep(for: interval)
            }
        }
    }
}

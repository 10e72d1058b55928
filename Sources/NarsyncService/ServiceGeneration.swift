import BinaryCache
import Hook
import Logging
import NixStore
import Replication
import SystemSupport

/// The services of one configuration, one per destination over one manifest, and the hook
/// server feeding them. A SIGHUP ends a generation and starts the next.
final class ServiceGeneration: Sendable {
    let services: [ReplicationService]
    private let executors: [BlockingExecutor]
    private let hookServer: HookServer?
    /// Held from before the manifest opens until `shutdown`, so a second `watch` on the same
    /// state directory refuses to start instead of sharing its queue.
    private let lock: StateDirectoryLock

    /// Opens the manifest and the hook socket: whatever the configuration gets wrong that its
    /// building did not find throws here, with nothing left running.
    init(_ configuration: ServiceConfiguration, observer: (any ReplicationServiceObserver)?, logger: Logger) throws {
        guard let first = configuration.destinations.first else { throw ServiceConfigurationError.noDestination }
        if let twice = configuration.destinationGivenTwice { throw ServiceConfigurationError.destinationGivenTwice(twice) }
        let layout = configuration.layout
        let lock = try StateDirectoryLock(stateDirectory: configuration.stateDirectory)
        self.lock = lock
        var executors: [BlockingExecutor] = []
        do {
            let manifest = AsyncManifest(try Manifest(stateDirectory: configuration.stateDirectory, retryPolicy: configuration.retryPolicy))
            var services: [ReplicationService] = []
            for destination in configuration.destinations {
                let identity = destination.destination.identity
                // In table order, so that of two destinations once known by one name, the first takes its records.
                if try manifest.runBlocking({ try $0.migrateDestination(from: identity.formerName, to: identity.url) }) {
                    logger.notice("manifest: the records of \(identity.formerName) now belong to \(identity)")
                }
                // `narsync status` reads where the credentials came from and when they expire here.
                if let credentials = (destination.destination as? S3Destination)?.credentials {
                    let stateDirectory = configuration.stateDirectory, name = identity.url
                    credentials.onChange { CredentialStatusFile.write($0, destination: name, stateDirectory: stateDirectory) }
                }
                let executor = BlockingExecutor(threadCount: destination.publishing.jobs, name: "narsync-upload")
                executors.append(executor)
                let publisher = Publisher(
                    destination: destination.destination, storeDirectory: layout.storeDirectory,
                    physicalPath: layout.physicalPath(of:), options: destination.publishing, executor: executor,
                    journal: manifest.journal(for: identity.url),
                    realisations: try RealisationStep(layout: layout, signingKeys: destination.publishing.signingKeys, logger: logger),
                    logger: logger)
                services.append(ReplicationService(
                    layout: layout, publisher: publisher, manifest: manifest, options: destination.replication,
                    logger: logger, observer: observer))
            }
            let intake = BuildIntake(layout: layout, busyTimeout: first.replication.databaseBusyTimeout, services: services)
            hookServer = try configuration.hook.map { hook in
                try HookServer(configuration: hook, logger: logger) { outputs, derivation in
                    try intake.enqueue(outputs: outputs, derivation: derivation)
                }
            }
            self.services = services
            self.executors = executors
        } catch {
            for executor in executors { executor.shutdown() }
            lock.release()
            throw error
        }
    }

    /// Runs the services until they stop. One destination failing stops the others, so that
    /// systemd restarts them all.
    func run() async throws {
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

    /// Asks every service to finish its uploads in flight (within its grace period) and return.
    func stop() {
        for service in services { service.stop() }
    }

    /// Closes the hook socket and the upload threads and releases the state directory.
    func shutdown() {
        hookServer?.shutdown()
        for executor in executors { executor.shutdown() }
        lock.release()
    }
}

import BinaryCache
import Hook
import NixStore
import Replication

/// Everything `narsync watch` runs, resolved: the store, the state directory, one opened
/// destination per `[[destination]]` table with its keys and options, and the hook socket.
/// The command line builds it (parsing, defaults, keys); `ReplicationSupervisor` runs it.
public struct ServiceConfiguration: Sendable {
    /// One destination and how to publish to it.
    public struct Destination: Sendable {
        public var destination: any BinaryCacheDestination
        public var publishing: PublishOptions
        public var replication: ReplicationService.Configuration

        public init(destination: any BinaryCacheDestination, publishing: PublishOptions, replication: ReplicationService.Configuration) {
            self.destination = destination
            self.publishing = publishing
            self.replication = replication
        }
    }

    public var layout: StoreLayout
    /// Where the manifest (and its lock) live.
    public var stateDirectory: String
    /// How long failed paths wait before they are tried again.
    public var retryPolicy: RetryPolicy
    public var destinations: [Destination]
    /// `narsync hook`'s socket and spool; nil to not listen.
    public var hook: HookServer.Configuration?

    public init(
        layout: StoreLayout, stateDirectory: String, retryPolicy: RetryPolicy, destinations: [Destination],
        hook: HookServer.Configuration?
    ) {
        self.layout = layout
        self.stateDirectory = stateDirectory
        self.retryPolicy = retryPolicy
        self.destinations = destinations
        self.hook = hook
    }

    /// A destination that two tables name, by identity: the manifest keeps one queue per
    /// destination, so two services on it would publish the same paths.
    public var destinationGivenTwice: DestinationIdentity? {
        var seen: Set<DestinationIdentity> = []
        return destinations.map(\.destination.identity).first { !seen.insert($0).inserted }
    }
}

/// A configuration the supervisor cannot run.
public enum ServiceConfigurationError: Error, Equatable, CustomStringConvertible {
    case destinationGivenTwice(DestinationIdentity)
    case noDestination

    public var description: String {
        switch self {
        case .destinationGivenTwice(let identity):
            "two [[destination]] tables publish to \(identity); they would share one queue"
        case .noDestination:
            "no destination to publish to"
        }
    }
}

/// The service could not start: nothing ran. The state directory is another service's, the
/// manifest cannot be written, the hook socket is in use.
public struct ServiceStartError: Error, CustomStringConvertible {
    public let underlying: any Error

    public var description: String { "\(underlying)" }
}

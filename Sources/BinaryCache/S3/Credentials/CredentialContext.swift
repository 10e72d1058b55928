import Logging
import SystemSupport

/// What the providers of one destination share: the settings, and the HTTP clients, made
/// on first use so that a machine with keys in its environment starts no thread for them.
final class CredentialContext: Sendable {
    let settings: AWSSettings
    let logger: Logger
    private let clients = Locked<(local: CredentialHTTP?, remote: CredentialHTTP?, metadata: InstanceMetadataClient?)>((nil, nil, nil))

    init(settings: AWSSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// For instance metadata and the container agent: short timeouts.
    var localHTTP: CredentialHTTP {
        clients.withLock { clients in
            if let local = clients.local { return local }
            let local = CredentialHTTP.local(logger: logger)
            clients.local = local
            return local
        }
    }

    /// For STS and SSO.
    var remoteHTTP: CredentialHTTP {
        clients.withLock { clients in
            if let remote = clients.remote { return remote }
            let remote = CredentialHTTP.remote(logger: logger)
            clients.remote = remote
            return remote
        }
    }

    /// One instance metadata client, so that a machine found to have none is asked once.
    var instanceMetadata: InstanceMetadataClient {
        let http = localHTTP
        return clients.withLock { clients in
            if let metadata = clients.metadata { return metadata }
            let metadata = InstanceMetadataClient(settings: settings, http: http)
            clients.metadata = metadata
            return metadata
        }
    }

    func sts() throws -> STSClient {
        try STSClient(settings: settings, http: remoteHTTP)
    }
}

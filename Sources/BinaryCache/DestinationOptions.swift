import Foundation
import Logging

/// How remote destinations (S3, HTTP) send: part sizes, parallelism, timeouts, retries, and
/// where credentials come from.
public struct DestinationOptions: Sendable, CustomReflectable {
    /// The size of the first parts of a multipart upload, and the largest object sent in a
    /// single PUT. Parts grow past it so that no upload needs more than 10,000 parts. An S3
    /// URL's `multipart-chunk-size=` overrides it. S3 wants at least 5 MiB.
    public var partSize: Int
    /// Parts in flight at once across all uploads of a destination; with `partSize`, this
    /// bounds the memory that uploads hold.
    public var partsInFlight: Int
    public var retry: RequestRetryPolicy
    public var connectTimeout: Duration
    /// A request that moves no byte for this long is dropped and retried.
    public var stallTimeout: Duration
    /// HTTP destinations: a file holding a bearer token, sent as `Authorization: Bearer`.
    public var bearerTokenFile: String?
    /// HTTP destinations: a netrc file curl takes the server's login from.
    public var netrcFile: String?
    /// Where AWS credentials, `AWS_PROFILE` and `HOME` are looked up.
    public var environment: [String: String]
    public var logger: Logger

    public init(
        partSize: Int = 8 << 20,
        partsInFlight: Int = 4,
        retry: RequestRetryPolicy = .standard,
        connectTimeout: Duration = .seconds(15),
        stallTimeout: Duration = .seconds(60),
        bearerTokenFile: String? = nil,
        netrcFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "narsync.destination")
    ) {
        self.partSize = partSize
        self.partsInFlight = partsInFlight
        self.retry = retry
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
        self.bearerTokenFile = bearerTokenFile
        self.netrcFile = netrcFile
        self.environment = environment
        self.logger = logger
    }

    /// What `dump` and debuggers show: the environment's names, not its values (secrets).
    public var customMirror: Mirror {
        Mirror(self, children: [
            "partSize": partSize, "partsInFlight": partsInFlight, "retry": retry, "connectTimeout": connectTimeout,
            "stallTimeout": stallTimeout, "bearerTokenFile": bearerTokenFile as Any, "netrcFile": netrcFile as Any,
            "environment": environment.keys.sorted(),
        ])
    }

    var transferSettings: TransferSettings {
        TransferSettings(connectTimeout: connectTimeout, stallTimeout: stallTimeout, netrcFile: netrcFile, retry: retry)
    }
}

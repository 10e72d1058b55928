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
    /// The most requests in flight to the destination at once. Answers that say "slow down"
    /// (503 SlowDown, 429) lower the limit under it, and it grows back once they stop (see
    /// `AdaptiveConcurrencyLimit`).
    public var maximumRequestsInFlight: Int
    public var retry: RequestRetryPolicy
    public var connectTimeout: Duration
    /// A request that moves no byte for this long is dropped and retried.
    public var stallTimeout: Duration
    /// HTTP destinations: a file holding a bearer token, sent as `Authorization: Bearer`.
    public var bearerTokenFile: String?
    /// HTTP destinations: a netrc file curl takes the server's login from.
    public var netrcFile: String?
    /// The `ca-file` setting: the PEM bundle of the CAs trusted for https://, unless the
    /// URL's `ca-file=` names another (see `TLSSettings` for the whole order).
    public var caFile: String?
    /// Where AWS credentials, `AWS_PROFILE` and `HOME` are looked up.
    public var environment: [String: String]
    public var logger: Logger

    public init(
        partSize: Int = 8 << 20,
        partsInFlight: Int = 4,
        maximumRequestsInFlight: Int = 8,
        retry: RequestRetryPolicy = .standard,
        connectTimeout: Duration = .seconds(15),
        stallTimeout: Duration = .seconds(60),
        bearerTokenFile: String? = nil,
        netrcFile: String? = nil,
        caFile: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "narsync.destination")
    ) {
        self.partSize = partSize
        self.partsInFlight = partsInFlight
        self.maximumRequestsInFlight = max(1, maximumRequestsInFlight)
        self.retry = retry
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
        self.bearerTokenFile = bearerTokenFile
        self.netrcFile = netrcFile
        self.caFile = caFile
        self.environment = environment
        self.logger = logger
    }

    /// What `dump` and debuggers show: the environment's names, not its values (secrets).
    public var customMirror: Mirror {
        Mirror(self, children: [
            "partSize": partSize, "partsInFlight": partsInFlight, "retry": retry, "connectTimeout": connectTimeout,
            "stallTimeout": stallTimeout, "bearerTokenFile": bearerTokenFile as Any, "netrcFile": netrcFile as Any,
            "caFile": caFile as Any, "maximumRequestsInFlight": maximumRequestsInFlight,
            "environment": environment.keys.sorted(),
        ])
    }

    var transferSettings: TransferSettings {
        TransferSettings(
            connectTimeout: connectTimeout, stallTimeout: stallTimeout, netrcFile: netrcFile, retry: retry,
            proxy: ProxySettings(environment: environment), maximumRequestsInFlight: maximumRequestsInFlight)
    }
}

import Foundation

/// The real S3 servers the end-to-end suites run against, each test once per server
/// (`@Test(arguments: S3Backend.tested)`).
public enum S3Backend: String, CaseIterable, Sendable, CustomStringConvertible {
    /// moto, the Python emulator: also checks SigV4 against its IAM users, and has a request log.
    case moto
    /// Ceph's RADOS Gateway on a one-node cluster, as production deployments run it.
    case rgw

    public var description: String { rawValue }

    /// The backends the suites run against: all of them, or those that NARSYNC_TEST_S3_BACKENDS
    /// names ("moto", "moto,rgw"), to measure what each costs or to work without one.
    public static let tested: [S3Backend] = {
        guard let names = ProcessInfo.processInfo.environment["NARSYNC_TEST_S3_BACKENDS"] else { return allCases }
        return names.split(separator: ",").compactMap { S3Backend(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
    }()
}

/// A running S3 server of either backend, with the keys of a user that may do anything there.
/// moto is started for its owner (with signature checking on) and stopped by `stop()`; RGW is
/// the process's shared gateway (`CephRGW.shared()`), which outlives every suite.
public struct S3Server: Sendable {
    public let backend: S3Backend
    public let port: Int
    public let credentials: MotoServer.Credentials
    /// The moto behind this server, for what only moto has (reset-auth, IAM); nil for RGW.
    public let moto: MotoServer?
    private let rgw: CephRGW?

    /// A server of `backend`. For moto, a new one with signature checking on, started with
    /// `motoEnvironment` (`MOTO_S3_DEFAULT_MAX_KEYS`...); for RGW, the shared gateway.
    public static func start(_ backend: S3Backend, motoEnvironment: [String: String] = [:]) throws -> S3Server {
        switch backend {
        case .moto:
            let moto = try MotoServer(environment: motoEnvironment)
            return S3Server(backend: .moto, port: moto.port, credentials: try moto.enableSignatureChecking(), moto: moto, rgw: nil)
        case .rgw:
            let rgw = try CephRGW.shared()
            return S3Server(backend: .rgw, port: rgw.port, credentials: rgw.credentials, moto: nil, rgw: rgw)
        }
    }

    /// `host:port`, as an S3 URL's `endpoint=` wants it.
    public var endpoint: String { "127.0.0.1:\(port)" }

    /// The store URL of `bucket`, reached directly or through a proxy on `port`.
    public func url(bucket: String, port: Int? = nil) -> String {
        "s3://\(bucket)?endpoint=127.0.0.1:\(port ?? self.port)&scheme=http&region=us-east-1"
    }

    /// A bucket name no other test uses: RGW's buckets are shared by the whole test run.
    public static func uniqueBucketName(prefix: String = "narsync") -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Lets anyone GET the bucket's objects, as a public cache bucket would (Nix 2.8 reads S3
    /// caches over plain HTTP). On moto this turns signature checking off for good, since moto
    /// refuses unsigned requests while it is on; RGW takes a bucket policy and checks on.
    public func allowAnonymousReads(bucket: String) throws {
        if let moto {
            try moto.disableSignatureChecking()
            try moto.allowAnonymousReads(bucket: bucket)
        } else {
            try rgw?.allowAnonymousReads(bucket: bucket)
        }
    }

    /// Stops a moto; the shared RGW stays up for the other suites.
    public func stop() { moto?.stop() }

    /// The end of the server's log, for failure messages.
    public var log: String { moto?.log ?? rgw?.log ?? "" }
}

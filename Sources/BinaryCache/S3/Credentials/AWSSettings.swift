import Foundation

/// What the AWS tools read besides credentials, resolved once for a destination: the
/// environment, the profile and its files, the region and the endpoints.
public struct AWSSettings: Sendable {
    public let environment: [String: String]
    /// From the store URL's `profile=`, else `AWS_PROFILE`, else "default".
    public let profileName: String
    /// Whether the profile was named (URL or `AWS_PROFILE`): then it must exist.
    public let profileWasNamed: Bool
    /// Whether the store URL named the profile: then it wins over keys in the environment, as in Nix.
    public let profileFromURL: Bool
    let files: AWSConfigFiles

    /// - Parameter profile: the store URL's `profile=`, if any.
    public init(environment: [String: String], profile: String?) {
        self.environment = environment
        let fromEnvironment = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
        profileName = profile ?? fromEnvironment ?? "default"
        profileWasNamed = profile != nil || fromEnvironment != nil
        profileFromURL = profile != nil
        files = AWSConfigFiles(environment: environment)
    }

    /// A variable of the environment, empty counting as unset.
    func variable(_ name: String) -> String? {
        environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The selected profile, re-read from the files (which may have changed since).
    var profile: AWSProfile? { AWSConfigFiles(environment: environment).profile(profileName) }

    /// `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region`; instance metadata and
    /// us-east-1 come after, and are the caller's.
    var configuredRegion: String? {
        variable("AWS_REGION") ?? variable("AWS_DEFAULT_REGION") ?? files.profile(profileName)?["region"]
    }

    /// A service's endpoint as the AWS tools find it: `AWS_ENDPOINT_URL_<SERVICE>`, then
    /// `AWS_ENDPOINT_URL`, then the profile's `endpoint_url`. Nil for the service's own.
    /// - Parameter service: "S3", "STS", "SSO".
    func endpoint(service: String) -> String? {
        variable("AWS_ENDPOINT_URL_\(service)") ?? variable("AWS_ENDPOINT_URL") ?? files.profile(profileName)?["endpoint_url"]
    }

    /// Whether `AWS_EC2_METADATA_DISABLED` (or the profile) turns instance metadata off.
    var instanceMetadataDisabled: Bool {
        variable("AWS_EC2_METADATA_DISABLED")?.lowercased() == "true"
    }
}

/// An endpoint URL taken apart for sending and signing: `https://sts.eu-west-1.amazonaws.com`.
struct ServiceEndpoint: Sendable {
    var scheme: String
    /// `host[:port]`, without a default port: what the `Host` header says and SigV4 signs.
    var host: String
    /// The path the API lives under, "" for the root.
    var path: String

    init(_ url: String) throws {
        guard let separator = url.range(of: "://") else {
            throw CredentialSourceError.failed("endpoint \(url) is not a URL (http://host or https://host)")
        }
        scheme = url[..<separator.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw CredentialSourceError.failed("endpoint \(url) is not http:// or https://")
        }
        var authority = url[separator.upperBound...]
        path = ""
        if let slash = authority.firstIndex(of: "/") {
            path = String(authority[slash...])
            while path.hasSuffix("/") { path.removeLast() }
            authority = authority[..<slash]
        }
        host = String(authority)
        if (scheme == "https" && host.hasSuffix(":443")) || (scheme == "http" && host.hasSuffix(":80")) {
            host = String(host[..<host.lastIndex(of: ":")!])
        }
    }

    /// The URL of `path` (starting with "/") on this endpoint.
    func url(_ path: String) -> String { "\(scheme)://\(host)\(self.path)\(path)" }

    /// Whether the host is this machine, where plain HTTP cannot be overheard.
    var isLoopback: Bool {
        let name = host.hasPrefix("[") ? String(host.dropFirst().prefix { $0 != "]" }) : String(host.prefix { $0 != ":" })
        return name == "localhost" || name.hasPrefix("127.") || name == "::1"
    }
}

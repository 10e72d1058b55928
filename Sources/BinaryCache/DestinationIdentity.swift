import Foundation

/// Which cache a destination writes to, as one normalised URL without secrets.
///
/// Two destinations with the same identity write the same objects; two with different
/// identities never share a manifest record (watermark, queue, published set), a metrics label
/// or a name in the logs. The identity holds everything that decides where objects go and
/// nothing else:
///
/// - `s3://bucket?endpoint=http://minio.local:9000&region=eu-west-1&addressing-style=path&profile=ci`:
///   the endpoint (scheme, host, port and path, lowercased, without a default port or a login;
///   left out for AWS, where the region names it), the region, the addressing style as it
///   applies (`auto` resolved) and the profile, which may select another account;
/// - `https://cache.example.org/nix`: scheme and host lowercased, no default port, no trailing
///   slash, no parameters;
/// - `file:///srv/cache`: the directory's path with `.`, `..` and repeated slashes resolved.
///
/// Settings of how to write (`storage-class=`, `compression=`, part sizes) are not part of it.
public struct DestinationIdentity: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The normalised URL.
    public let url: String
    /// The name narsync gave this destination in its manifest before identities existed (the
    /// destination's `description`, which for S3 was only `s3://bucket`). A manifest that still
    /// has records under it moves them to `url` when the destination is first opened.
    public let formerName: String

    init(url: String, formerName: String) {
        self.url = url
        self.formerName = formerName
    }

    /// The identity of the destination `url` names, without opening it: nothing is created,
    /// read or reached, and no credentials are needed.
    /// - Throws: the errors `Destinations.open` throws for a malformed or unsupported URL.
    public init(parsing url: String) throws {
        guard let separator = url.range(of: "://") else { throw DestinationError.unsupportedURL(url) }
        switch url[..<separator.lowerBound].lowercased() {
        case "file": self = .file(directory: try FileDestination.directory(of: url))
        case "s3": self = try S3Location(parsing: url).identity
        case "http", "https": self = try HTTPDestination.identity(of: try StoreURL(url), url: url)
        default: throw DestinationError.unsupportedURL(url)
        }
    }

    /// The identity of the directory cache in `directory`.
    static func file(directory: String) -> DestinationIdentity {
        DestinationIdentity(url: "file://" + normalisedPath(directory), formerName: "file://\(directory)")
    }

    public var description: String { url }

    public static func == (lhs: DestinationIdentity, rhs: DestinationIdentity) -> Bool { lhs.url == rhs.url }
    public static func < (lhs: DestinationIdentity, rhs: DestinationIdentity) -> Bool { lhs.url < rhs.url }
    public func hash(into hasher: inout Hasher) { hasher.combine(url) }

    /// `scheme://host[:port]`, lowercased, without a login and without the scheme's default port.
    static func normalisedAuthority(scheme: String, authority: some StringProtocol) -> String {
        var host = authority.lowercased()
        // A login never belongs in an identity: it is written to the manifest, logs and metrics.
        if let at = host.lastIndex(of: "@") { host = String(host[host.index(after: at)...]) }
        let scheme = scheme.lowercased()
        if (scheme == "https" && host.hasSuffix(":443")) || (scheme == "http" && host.hasSuffix(":80")) {
            host = String(host[..<host.lastIndex(of: ":")!])
        }
        return "\(scheme)://\(host)"
    }

    /// `path` with empty and `.` components removed and `..` applied, without a trailing slash.
    static func normalisedPath(_ path: String) -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/") where component != "." {
            if component == ".." {
                _ = components.popLast()
            } else {
                components.append(component)
            }
        }
        let joined = components.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : joined
    }

    /// A query value with the characters that would end it (`&`, `=`, `#`, `%`, space) escaped.
    static func queryValue(_ value: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=#%+ ")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}

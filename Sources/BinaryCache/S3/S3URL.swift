/// Where an S3 bucket is and how to address it, from a Nix S3 store URL:
/// `s3://bucket?region=...&endpoint=...&profile=...&scheme=http|https&addressing-style=auto|path|virtual`.
public struct S3Location: Sendable, Equatable, CustomStringConvertible {
    public enum AddressingStyle: String, Sendable {
        /// Virtual-hosted style for AWS, path style for other endpoints and for bucket names
        /// with dots (which TLS wildcard certificates do not cover), as Nix does.
        case auto
        /// `https://endpoint/bucket/key`.
        case path
        /// `https://bucket.endpoint/key`.
        case virtual
    }

    public var bucket: String
    /// The URL's `region=`; until `resolveDefaults` runs, us-east-1 when it has none.
    public var region: String
    /// Whether the URL named the region; otherwise the AWS settings may (see `resolveDefaults`).
    public var hasExplicitRegion: Bool
    /// The profile named in the URL, which selects the credentials (see `S3Credentials.resolve`).
    public var profile: String?
    public var scheme: String
    /// `host[:port]` of the S3 API.
    public var endpoint: String
    /// A path the endpoint's API lives under (from `endpoint=https://host/prefix`), or "".
    public var endpointPath: String
    /// Whether `endpoint=` named a server other than AWS.
    public var hasCustomEndpoint: Bool
    public var addressingStyle: AddressingStyle
    /// `x-amz-storage-class` for new objects (`storage-class=`), or the bucket's default.
    public var storageClass: String?
    /// `multipart-chunk-size=` (or its old name `buffer-size=`): the first parts' size.
    public var partSize: Int?
    /// `ca-file=`: the PEM bundle of the CAs to trust for this endpoint (see `TLSSettings`).
    public var caFile: String?

    static let parameterNames: Set<String> = [
        "region", "endpoint", "profile", "scheme", "addressing-style", "storage-class", "multipart-chunk-size",
        "buffer-size", "ca-file",
    ]

    public init(parsing url: String) throws {
        let parsed = try StoreURL(url)
        guard parsed.scheme == "s3" else { throw DestinationError.configuration(url, "not an s3:// URL") }
        bucket = parsed.rest.hasSuffix("/") ? String(parsed.rest.dropLast()) : parsed.rest
        guard !bucket.isEmpty, !bucket.contains("/") else {
            throw DestinationError.configuration(url, "an S3 store URL names a bucket only, as in s3://my-cache?region=eu-west-1")
        }
        try parsed.rejectUnknownParameters(known: Self.parameterNames, location: url)
        region = parsed.value("region") ?? "us-east-1"
        hasExplicitRegion = parsed.value("region").map { !$0.isEmpty } ?? false
        profile = parsed.value("profile").flatMap { $0.isEmpty ? nil : $0 }
        storageClass = parsed.value("storage-class")
        caFile = parsed.value("ca-file").flatMap { $0.isEmpty ? nil : $0 }
        scheme = parsed.value("scheme") ?? "https"
        guard let style = AddressingStyle(rawValue: parsed.value("addressing-style") ?? "auto") else {
            throw DestinationError.configuration(url, "addressing-style must be auto, path or virtual")
        }
        addressingStyle = style
        if let size = parsed.value("multipart-chunk-size") ?? parsed.value("buffer-size") {
            guard let bytes = Int(size), bytes > 0 else {
                throw DestinationError.configuration(url, "multipart-chunk-size must be a number of bytes, not '\(size)'")
            }
            partSize = bytes
        }
        endpointPath = ""
        hasCustomEndpoint = false
        endpoint = "s3.\(region).amazonaws.com"
        if let custom = parsed.value("endpoint"), !custom.isEmpty { setEndpoint(custom) }
        guard scheme == "https" || scheme == "http" else {
            throw DestinationError.configuration(url, "scheme must be http or https, not '\(scheme)'")
        }
    }

    /// Points requests at `custom`: `host[:port]`, or a URL whose scheme and path are taken too.
    private mutating func setEndpoint(_ custom: String) {
        hasCustomEndpoint = true
        var authority = Substring(custom)
        if let separator = custom.range(of: "://") {
            scheme = custom[..<separator.lowerBound].lowercased()
            authority = custom[separator.upperBound...]
        }
        if let slash = authority.firstIndex(of: "/") {
            endpointPath = String(authority[slash...])
            while endpointPath.hasSuffix("/") { endpointPath.removeLast() }
            authority = authority[..<slash]
        }
        endpoint = String(authority)
    }

    /// Fills in what the URL left out from the AWS settings, as the AWS tools do: the endpoint
    /// from `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` or the profile's `endpoint_url` (the URL's
    /// `endpoint=` wins); the region from `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
    /// `region`, then `instanceRegion` (asked only then), then us-east-1.
    public mutating func resolveDefaults(settings: AWSSettings, instanceRegion: () -> String?) throws {
        if !hasCustomEndpoint, let custom = settings.endpoint(service: "S3") {
            setEndpoint(custom)
            guard scheme == "https" || scheme == "http" else {
                throw DestinationError.configuration(custom, "the S3 endpoint must be http:// or https://")
            }
        }
        guard !hasExplicitRegion else { return }
        if let configured = settings.configuredRegion ?? instanceRegion() {
            region = configured
            if !hasCustomEndpoint { endpoint = "s3.\(region).amazonaws.com" }
        }
    }

    public var description: String { "s3://\(bucket)" }

    /// The largest request body the endpoint takes: S3's 5 GiB part, or 95 MiB for Cloudflare
    /// R2, whose requests pass Cloudflare's proxy and its 100 MB limit.
    public var maximumPartSize: Int {
        let host = endpoint.split(separator: ":").first.map(String.init)?.lowercased() ?? ""
        return host.hasSuffix(".r2.cloudflarestorage.com") ? 95 << 20 : PartSizing.maximumPartSize
    }

    /// The bucket with everything that decides where requests go: the endpoint (for AWS the
    /// region names it), the region (it is signed), the addressing style as it applies and the
    /// profile (which may select another account). See `DestinationIdentity`.
    public var identity: DestinationIdentity {
        var parameters: [String] = []
        if hasCustomEndpoint {
            let server = DestinationIdentity.normalisedAuthority(scheme: scheme, authority: endpoint)
            parameters.append("endpoint=" + DestinationIdentity.queryValue(server + endpointPath))
        } else if scheme != "https" {
            parameters.append("scheme=\(scheme)")
        }
        parameters.append("region=" + DestinationIdentity.queryValue(region))
        parameters.append("addressing-style=\(usesVirtualHost ? "virtual" : "path")")
        if let profile { parameters.append("profile=" + DestinationIdentity.queryValue(profile)) }
        return DestinationIdentity(url: "s3://\(bucket)?" + parameters.joined(separator: "&"), formerName: description)
    }

    /// Whether requests name the bucket in the host rather than the path.
    var usesVirtualHost: Bool {
        switch addressingStyle {
        case .path: false
        case .virtual: true
        case .auto: !hasCustomEndpoint && !bucket.contains(".")
        }
    }

    /// What a request for `key` (or the bucket itself, with "") is sent to.
    struct Target {
        var url: String
        /// The `Host` header, signed: the authority without a default port.
        var host: String
        var canonicalURI: String
    }

    func target(key: String, query: [(name: String, value: String)]) -> Target {
        var host = endpoint
        if (scheme == "https" && host.hasSuffix(":443")) || (scheme == "http" && host.hasSuffix(":80")) {
            host = String(host[..<host.lastIndex(of: ":")!])
        }
        var path = endpointPath
        if usesVirtualHost {
            host = "\(bucket).\(host)"
        } else {
            path += "/" + S3Path.encode(bucket)
        }
        if !key.isEmpty { path += "/" + S3Path.encodeKey(key) }
        if path.isEmpty { path = "/" }
        let queryString = SigV4Signer.canonicalQuery(query)
        return Target(
            url: "\(scheme)://\(host)\(path)\(queryString.isEmpty ? "" : "?" + queryString)",
            host: host, canonicalURI: path)
    }
}

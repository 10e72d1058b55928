import Foundation

/// A binary cache on an HTTP server that accepts uploads, as Nix's HTTP binary cache store
/// writes one: `PUT <base>/<key>`, `HEAD` to check, `GET` to read. Optionally authenticated by
/// a bearer token read from a file, or by curl's netrc lookup.
public final class HTTPDestination: BinaryCacheDestination, TransferStatisticsReporting, CustomReflectable {
    /// The cache's URL without a trailing slash or parameters.
    public let baseURL: String
    public let statistics: TransferStatistics
    let curl: CurlMulti
    /// Objects up to this size are sent whole, with retries; larger ones are streamed.
    let streamingThreshold: Int
    /// `Bearer <token>`; never printed.
    private let authorization: String?
    private let credentialSource: String?

    public init(url: String, options: DestinationOptions) throws {
        let parsed = try StoreURL(url)
        guard parsed.scheme == "http" || parsed.scheme == "https" else {
            throw DestinationError.configuration(url, "not an http:// or https:// URL")
        }
        try parsed.rejectUnknownParameters(known: [], location: url)
        // A login in the URL would show in `ps`, in logs and in error messages.
        if parsed.rest.prefix(while: { $0 != "/" }).contains("@") {
            throw DestinationError.configuration(
                "\(parsed.scheme)://\(parsed.rest.drop(while: { $0 != "@" }).dropFirst())",
                "a login in the URL is refused: it would show in process listings and logs",
                hint: "put it in a netrc file (--netrc-file) or a bearer token file (--bearer-token-file)")
        }
        var base = "\(parsed.scheme)://\(parsed.rest)"
        while base.hasSuffix("/") { base.removeLast() }
        baseURL = base
        if let file = options.bearerTokenFile {
            guard let token = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw DestinationError.configuration(base, "cannot read the bearer token file \(file)")
            }
            authorization = "Bearer \(token.trimmingCharacters(in: .whitespacesAndNewlines))"
            credentialSource = "the bearer token in \(file)"
        } else {
            authorization = nil
            credentialSource = options.netrcFile.map { "the login for this host in \($0)" }
        }
        statistics = TransferStatistics()
        curl = CurlMulti(name: "narsync-http", settings: options.transferSettings, statistics: statistics, logger: options.logger)
        streamingThreshold = options.partSize
    }

    public var description: String { baseURL }

    public var identity: DestinationIdentity { Self.identity(ofBase: baseURL) }

    /// The identity of the cache an `http(s)://` store URL names: scheme and host lowercased,
    /// no default port, no trailing slash, no parameters (Nix's cache settings).
    static func identity(of parsed: StoreURL, url: String) throws -> DestinationIdentity {
        guard parsed.scheme == "http" || parsed.scheme == "https" else {
            throw DestinationError.configuration(url, "not an http:// or https:// URL")
        }
        var base = "\(parsed.scheme)://\(parsed.rest)"
        while base.hasSuffix("/") { base.removeLast() }
        return identity(ofBase: base)
    }

    private static func identity(ofBase base: String) -> DestinationIdentity {
        let afterScheme = base[base.range(of: "://")!.upperBound...]
        let slash = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
        let scheme = String(base[..<base.range(of: "://")!.lowerBound])
        let authority = DestinationIdentity.normalisedAuthority(scheme: scheme, authority: afterScheme[..<slash])
        let path = DestinationIdentity.normalisedPath(String(afterScheme[slash...]))
        return DestinationIdentity(url: authority + path, formerName: base)
    }

    /// What `dump` and debuggers show: never the token.
    public var customMirror: Mirror { Mirror(self, children: ["baseURL": baseURL]) }

    public func exists(key: String) throws -> Bool {
        try send("check", "HEAD", key: key, accepting: [404, 410]).status < 300
    }

    public func read(key: String) throws -> [UInt8]? {
        let response = try send("read", "GET", key: key, accepting: [404, 410])
        return response.status < 300 ? response.body : nil
    }

    public func put(key: String, contents: [UInt8], contentType: String) throws {
        _ = try send("upload", "PUT", key: key, headers: [("Content-Type", contentType)], body: .bytes(contents))
    }

    public func beginUpload(key: String, contentType: String, journal: (any UploadJournal)?) throws -> any ObjectUpload {
        HTTPObjectUpload(destination: self, key: key, contentType: contentType)
    }

    /// An HTTP cache has no listing: callers check keys one by one.
    public func listKeys(suffix: String) throws -> Set<String>? { nil }

    /// Sends a request and waits; throws unless the status is 2xx or in `accepting`.
    func send(
        _ operation: String, _ method: String, key: String, headers: [(name: String, value: String)] = [],
        body: RequestBody = .none, accepting: Set<Int> = [], cancellation: Cancellation? = nil
    ) throws -> HTTPResponse {
        let outcome = begin(method, key: key, headers: headers, body: body, cancellation: cancellation).wait()
        return try check(outcome, operation: operation, key: key, accepting: accepting)
    }

    /// Starts a request; streamed bodies are sent once, others retried on transient failures.
    func begin(
        _ method: String, key: String, headers: [(name: String, value: String)], body: RequestBody,
        cancellation: Cancellation?
    ) -> PendingOutcome {
        var request = HTTPRequest(method: method, url: url(for: key), headers: headers, body: body)
        if let authorization { request.headers.append(("Authorization", authorization)) }
        let finished = request
        return curl.begin(label: "\(method) \(url(for: key))", cancellation: cancellation, isTransient: {
            RequestRetryPolicy.isTransient(status: $0.status, errorCode: nil)
        }) { finished }
    }

    /// The response if its status is 2xx or in `accepting`; otherwise the error to throw.
    func check(_ outcome: ExchangeOutcome, operation: String, key: String, accepting: Set<Int> = []) throws -> HTTPResponse {
        let location = url(for: key)
        switch outcome.result {
        case .success(let response) where response.isSuccess || accepting.contains(response.status):
            return response
        case .success(let response):
            throw DestinationError(
                operation: operation, location: location,
                reason: .status(response.status, code: nil, message: Self.summary(of: response.body)),
                attempts: outcome.attempts, isTransient: RequestRetryPolicy.isTransient(status: response.status, errorCode: nil),
                hint: hint(status: response.status))
        case .failure(let failure):
            throw DestinationError(
                operation: operation, location: location,
                reason: failure.isCancellation ? .cancelled : .transport(failure.message), attempts: outcome.attempts,
                isTransient: failure.isTransient)
        }
    }

    private func url(for key: String) -> String {
        "\(baseURL)/\(S3Path.encodeKey(key))"
    }

    private func hint(status: Int) -> String? {
        switch status {
        case 401:
            credentialSource.map { "the server did not accept \($0)" }
                ?? "the server wants credentials: give a bearer token file or a netrc file"
        case 403: "the server refused \(credentialSource ?? "anonymous uploads")"
        case 405, 501: "the server does not accept PUT at this URL; it must allow uploads (e.g. WebDAV)"
        case 413: "the server refused the object's size; raise its upload limit"
        default: nil
        }
    }

    /// The start of a plain-text error body, for the message.
    private static func summary(of body: [UInt8]) -> String? {
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty || text.hasPrefix("<") ? nil : text.replacingOccurrences(of: "\n", with: " ")
    }
}

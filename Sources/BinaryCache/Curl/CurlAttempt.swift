internal import CCurl
import Foundation

/// How every request of one destination connects, waits and retries.
struct TransferSettings: Sendable {
    var connectTimeout: Duration
    /// A request that moves no byte for this long is dropped (and retried): a stalled
    /// connection, not a slow one.
    var stallTimeout: Duration
    /// curl reads credentials for the host from this netrc file, if set.
    var netrcFile: String?
    var retry: RequestRetryPolicy
    /// Which CAs are trusted, and the client certificate, for https:// requests.
    var tls: TLSSettings = .systemStore
    var proxy = ProxySettings(environment: [:])
    /// The most requests in flight at once; throttling answers lower the limit below it.
    var maximumRequestsInFlight = 8
}

/// One attempt at an exchange: a curl easy handle, the request's body and the answer collected
/// so far. Created, driven and destroyed on the driver thread.
final class CurlAttempt {
    let exchange: Exchange
    let request: HTTPRequest
    let handle: UnsafeMutableRawPointer
    /// Set while curl waits for a streamed body's next bytes.
    var isPausedForBody = false
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
    private var bodyOffset = 0
    private var responseHeaders: [String: String] = [:]
    private var responseBody: [UInt8] = []
    /// When the attempt was handed to curl.
    let started = ContinuousClock.now
    private var lastProgress = ContinuousClock.now
    private var bytesMoved: curl_off_t = 0
    private let tls: TLSSettings

    init?(exchange: Exchange, request: HTTPRequest, settings: TransferSettings) {
        guard let handle = curl_easy_init() else { return nil }
        self.exchange = exchange
        self.request = request
        self.handle = handle
        tls = settings.tls
        errorBuffer[0] = 0
        configure(settings)
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    var streamBody: BodyStream? {
        if case .stream(let stream) = request.body { stream } else { nil }
    }

    private func configure(_ settings: TransferSettings) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        ccurl_easy_setopt_string(handle, CURLOPT_URL, request.url)
        ccurl_easy_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        ccurl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        // HTTP/2 where TLS negotiates it, and then wait for a multiplexable connection rather
        // than opening a new one for every part in flight. Plain http:// is HTTP/1.1, one
        // request per connection at a time: waiting there would send requests one by one
        // whenever the server closes connections after each answer (as moto does).
        ccurl_easy_setopt_long(handle, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS)
        if request.url.hasPrefix("https://") { ccurl_easy_setopt_long(handle, CURLOPT_PIPEWAIT, 1) }
        ccurl_easy_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(settings.connectTimeout.milliseconds))
        ccurl_easy_setopt_long(handle, CURLOPT_UPLOAD_BUFFERSIZE, 512 * 1024)
        configureTLS(settings.tls)
        ccurl_easy_setopt_string(handle, CURLOPT_PROXY, settings.proxy.proxy(for: request.url))
        if let noProxy = settings.proxy.noProxy { ccurl_easy_setopt_string(handle, CURLOPT_NOPROXY, noProxy) }
        if let netrc = settings.netrcFile {
            ccurl_easy_setopt_long(handle, CURLOPT_NETRC, Int(CURL_NETRC_OPTIONAL.rawValue))
            ccurl_easy_setopt_string(handle, CURLOPT_NETRC_FILE, netrc)
        }
        ccurl_easy_setopt_header_function(handle, curlHeaderCallback)
        ccurl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, me)
        ccurl_easy_setopt_write_function(handle, curlWriteCallback)
        ccurl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, me)
        configureMethod(me)

        // An empty "Expect:" stops curl from waiting for "100 Continue" before large bodies.
        for header in request.headers.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            headerList = curl_slist_append(headerList, header)
        }
        ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)
    }

    /// A CA bundle given replaces the system store (CAINFO without CAPATH), as the AWS tools'
    /// `ca_bundle` does; peer and host verification stay curl's default, on.
    private func configureTLS(_ tls: TLSSettings) {
        if let caFile = tls.caFile {
            ccurl_easy_setopt_string(handle, CURLOPT_CAINFO, caFile)
            ccurl_easy_setopt_string(handle, CURLOPT_CAPATH, nil)
        }
        if let certificate = tls.clientCertificate { ccurl_easy_setopt_string(handle, CURLOPT_SSLCERT, certificate) }
        if let key = tls.clientPrivateKey { ccurl_easy_setopt_string(handle, CURLOPT_SSLKEY, key) }
    }

    private func configureMethod(_ me: UnsafeMutableRawPointer) {
        switch request.method {
        case "GET":
            ccurl_easy_setopt_long(handle, CURLOPT_HTTPGET, 1)
        case "HEAD":
            ccurl_easy_setopt_long(handle, CURLOPT_NOBODY, 1)
        case "DELETE" where request.body.length == 0:
            ccurl_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, "DELETE")
        default:
            // Every method with a body goes through curl's upload path, which reads the body
            // from a callback and sends Content-Length (or chunks when the length is unknown).
            ccurl_easy_setopt_long(handle, CURLOPT_UPLOAD, 1)
            if request.method != "PUT" { ccurl_easy_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method) }
            ccurl_easy_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.length ?? -1))
            ccurl_easy_setopt_read_function(handle, curlReadCallback)
            ccurl_easy_setopt_pointer(handle, CURLOPT_READDATA, me)
            if case .bytes = request.body {
                // Lets curl resend the body itself when a reused connection turns out closed.
                ccurl_easy_setopt_seek_function(handle, curlSeekCallback)
                ccurl_easy_setopt_pointer(handle, CURLOPT_SEEKDATA, me)
            }
        }
    }

    /// Copies the next body bytes into curl's buffer; see `curlReadCallback`.
    fileprivate func readBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        switch request.body {
        case .none:
            return 0
        case .bytes(let bytes):
            let count = min(buffer.count, bytes.count - bodyOffset)
            bytes.withUnsafeBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[bodyOffset..<bodyOffset + count]))
            }
            bodyOffset += count
            return count
        case .stream(let stream):
            guard let count = stream.read(into: buffer) else {
                isPausedForBody = true
                return ccurl_readfunc_pause()
            }
            return count
        }
    }

    fileprivate func seekBody(to offset: Int) -> Bool {
        guard case .bytes(let bytes) = request.body, offset >= 0, offset <= bytes.count else { return false }
        bodyOffset = offset
        return true
    }

    fileprivate func receiveHeader(_ line: String) {
        if line.hasPrefix("HTTP/") {
            // A new response begins (after "100 Continue", or a retried request).
            responseHeaders.removeAll()
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        responseHeaders[name] = value
    }

    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) {
        responseBody.append(contentsOf: bytes)
    }

    /// The answer's body as received so far (whole, once curl reports the attempt done).
    var responseBodySoFar: [UInt8] { responseBody }

    /// Whether no byte went either way for `timeout`. curl's own low-speed limit averages over
    /// seconds and so misses a stall right after a fast upload; counting bytes does not.
    func hasStalled(now: ContinuousClock.Instant, timeout: Duration) -> Bool {
        var sent: curl_off_t = 0, received: curl_off_t = 0
        ccurl_easy_getinfo_off(handle, CURLINFO_SIZE_UPLOAD_T, &sent)
        ccurl_easy_getinfo_off(handle, CURLINFO_SIZE_DOWNLOAD_T, &received)
        if sent + received != bytesMoved || isPausedForBody {
            bytesMoved = sent + received
            lastProgress = now
        }
        return now - lastProgress > timeout
    }

    /// The attempt's outcome once curl reports it done with `code`.
    func finish(code: CURLcode, statistics: TransferStatistics) -> Result<HTTPResponse, TransportFailure> {
        recordTraffic(in: statistics)
        guard code == CURLE_OK else {
            var detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
            if Self.tlsFailures.contains(code) {
                detail = tls.failureMessage(
                    host: Self.authority(of: request.url), reason: detail, isVerificationFailure: code == CURLE_PEER_FAILED_VERIFICATION)
            }
            return .failure(TransportFailure(code: Int(code.rawValue), message: detail, isTransient: Self.isTransient(code)))
        }
        var status = 0
        ccurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResponse(status: status, headers: responseHeaders, body: responseBody))
    }

    /// Adds the bytes this attempt moved to `statistics`.
    func recordTraffic(in statistics: TransferStatistics) {
        var sent: curl_off_t = 0, received: curl_off_t = 0
        ccurl_easy_getinfo_off(handle, CURLINFO_SIZE_UPLOAD_T, &sent)
        ccurl_easy_getinfo_off(handle, CURLINFO_SIZE_DOWNLOAD_T, &received)
        statistics.recordTransferred(sent: Int(sent), received: Int(received))
    }

    /// Failures of the TLS handshake or of the certificates, whose messages name the host.
    static let tlsFailures: [CURLcode] = [
        CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE,
        CURLE_SSL_ISSUER_ERROR, CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND,
    ]

    /// `host:port` of a URL, for messages.
    static func authority(of url: String) -> String {
        let afterScheme = url.range(of: "://").map { url[$0.upperBound...] } ?? url[...]
        return String(afterScheme.prefix { $0 != "/" && $0 != "?" })
    }

    /// Failures that another attempt may not meet: timeouts, refused, reset or dropped connections.
    static func isTransient(_ code: CURLcode) -> Bool {
        [
            CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT, CURLE_HTTP2, CURLE_PARTIAL_FILE,
            CURLE_OPERATION_TIMEDOUT, CURLE_SSL_CONNECT_ERROR, CURLE_GOT_NOTHING, CURLE_SEND_ERROR,
            CURLE_RECV_ERROR, CURLE_SEND_FAIL_REWIND, CURLE_HTTP2_STREAM,
        ].contains(code)
    }
}

private func attempt(_ pointer: UnsafeMutableRawPointer?) -> CurlAttempt {
    Unmanaged<CurlAttempt>.fromOpaque(pointer!).takeUnretainedValue()
}

private let curlReadCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    buffer, size, count, userData in
    attempt(userData).readBody(into: UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
}

private let curlSeekCallback: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, Int32) -> Int32 = {
    userData, offset, origin in
    guard origin == SEEK_SET, attempt(userData).seekBody(to: Int(offset)) else { return CURL_SEEKFUNC_CANTSEEK }
    return CURL_SEEKFUNC_OK
}

private let curlHeaderCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    buffer, size, count, userData in
    let bytes = UnsafeRawBufferPointer(start: buffer, count: size * count)
    attempt(userData).receiveHeader(String(decoding: bytes, as: UTF8.self))
    return size * count
}

private let curlWriteCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    buffer, size, count, userData in
    attempt(userData).receiveBody(UnsafeRawBufferPointer(start: buffer, count: size * count))
    return size * count
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

import Foundation
import NixStore
import SystemSupport

/// Signed requests to one bucket through the destination's curl driver, with S3's answers
/// turned into `DestinationError`s that name the bucket, key, status and S3 error code.
/// Each attempt is signed with the credentials current when it is sent; a request S3 refuses
/// because the credentials expired is sent once more after a refresh.
final class S3Client: Sendable {
    let location: S3Location
    let credentials: CredentialCache
    let curl: CurlMulti

    /// One S3 API call.
    struct Call: Sendable {
        /// For messages: "upload", "check", "list".
        var operation: String
        var method: String
        /// The object's key, or "" for the bucket.
        var key: String
        var query: [(name: String, value: String)] = []
        /// Extra headers, all signed: `content-type`, `x-amz-storage-class`, `range`.
        var headers: [(name: String, value: String)] = []
        var body: [UInt8] = []
        /// Hex SHA-256 of `body`, when the caller has it already.
        var payloadHash: String?
        /// CompleteMultipartUpload may answer 200 and put its error in the body.
        var mayFailWithStatus200 = false
    }

    init(location: S3Location, credentials: CredentialCache, curl: CurlMulti) {
        self.location = location
        self.credentials = credentials
        self.curl = curl
    }

    /// Sends `call` and waits; throws unless the status is 2xx or one of `accepting` (404 for
    /// lookups).
    func perform(_ call: Call, accepting: Set<Int> = []) throws -> HTTPResponse {
        try performCountingAttempts(call, accepting: accepting).response
    }

    /// `perform`, also saying how many attempts the answer took.
    /// Blocks (the caller is an upload thread): waits out a refresh when the credentials have expired.
    func performCountingAttempts(_ call: Call, accepting: Set<Int> = []) throws -> (response: HTTPResponse, attempts: Int) {
        try awaitUsableCredentials(for: call)
        let signedWith = SigningRecord()
        let send = { [self] in
            curl.perform(
                label: label(call), isTransient: isTransient(call),
                makeRequest: makeRequest(call, payloadHash: hash(call), signedWith: signedWith))
        }
        var outcome = send()
        if let rejected = rejectedKey(outcome, signedWith: signedWith) {
            credentials.refreshNow(rejecting: rejected)
            outcome = send()
        }
        if case .success(let response) = outcome.result, response.isSuccess || accepting.contains(response.status) {
            return (response, outcome.attempts)
        }
        throw error(call, outcome)
    }

    /// Sends `call` without waiting; `completion` runs on the driver thread. Called from an
    /// upload thread: it may wait out a refresh of expired credentials first.
    func start(
        _ call: Call, cancellation: Cancellation?,
        completion: @escaping @Sendable (Result<HTTPResponse, DestinationError>) -> Void
    ) {
        do {
            try awaitUsableCredentials(for: call)
        } catch {
            return completion(.failure(error))
        }
        send(call, cancellation: cancellation, mayRefresh: true, completion: completion)
    }

    /// Waits out a refresh when the credentials have expired.
    /// - Throws: a transient error naming the object, so that its path waits in the queue.
    private func awaitUsableCredentials(for call: Call) throws(DestinationError) {
        do {
            _ = try credentials.current()
        } catch {
            throw DestinationError(
                operation: call.operation, location: objectName(call.key), reason: error.reason, attempts: 0,
                isTransient: true, hint: error.hint)
        }
    }

    private func send(
        _ call: Call, cancellation: Cancellation?, mayRefresh: Bool,
        completion: @escaping @Sendable (Result<HTTPResponse, DestinationError>) -> Void
    ) {
        let signedWith = SigningRecord()
        let exchange = Exchange(
            label: label(call), cancellation: cancellation, isTransient: isTransient(call),
            makeRequest: makeRequest(call, payloadHash: hash(call), signedWith: signedWith)
        ) { [self] outcome in
            if case .success(let response) = outcome.result, response.isSuccess { return completion(.success(response)) }
            if mayRefresh, let rejected = rejectedKey(outcome, signedWith: signedWith) {
                // Not here on the driver thread: the refresher sends it again once it has new keys.
                return credentials.refresh(rejecting: rejected) { [self] in
                    send(call, cancellation: cancellation, mayRefresh: false, completion: completion)
                }
            }
            completion(.failure(error(call, outcome)))
        }
        curl.start(exchange)
    }

    /// The access key S3 refused as expired or invalid in `outcome`, if it did: an
    /// `ExpiredToken`, `InvalidToken` or `TokenRefreshRequired` answer, or a 403 (a HEAD's
    /// has no body to say why) to temporary credentials at or past their expiry.
    private func rejectedKey(_ outcome: ExchangeOutcome, signedWith: SigningRecord) -> String? {
        guard case .success(let response) = outcome.result, !response.isSuccess, let used = signedWith.credentials else {
            return nil
        }
        if let code = S3ErrorBody(response.body)?.code, Self.credentialRejections.contains(code) { return used.accessKeyID }
        if response.status == 403, let expiration = used.expiration, Date() >= expiration.addingTimeInterval(-60) {
            return used.accessKeyID
        }
        return nil
    }

    static let credentialRejections: Set<String> = ["ExpiredToken", "InvalidToken", "TokenRefreshRequired"]

    private func hash(_ call: Call) -> String {
        call.payloadHash ?? SHA256Hasher.hash(call.body).hex
    }

    /// Builds each attempt's request, signed with that attempt's time and the credentials
    /// current then (the driver thread calls it: `latest` never waits).
    private func makeRequest(_ call: Call, payloadHash: String, signedWith: SigningRecord) -> @Sendable () -> HTTPRequest {
        let target = location.target(key: call.key, query: call.query)
        let credentials = credentials
        let region = location.region
        return {
            let signer = SigV4Signer(credentials: credentials.latest, region: region)
            signedWith.credentials = signer.credentials
            let timestamp = SigV4Signer.timestamp(Date())
            var headers = call.headers + [
                ("host", target.host), ("x-amz-content-sha256", payloadHash), ("x-amz-date", timestamp),
            ]
            if let token = signer.credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
            let signed = SigV4Signer.Request(
                method: call.method, canonicalURI: target.canonicalURI, query: call.query, headers: headers,
                payloadHash: payloadHash)
            headers.append(("authorization", signer.authorization(for: signed, timestamp: timestamp)))
            let body: RequestBody = call.method == "GET" || call.method == "HEAD" ? .none : .bytes(call.body)
            return HTTPRequest(method: call.method, url: target.url, headers: headers, body: body)
        }
    }

    /// Whether an answer to `call` is worth sending it again for. A successful answer's body
    /// is an object, not an error, unless the call is one S3 fails with 200.
    private func isTransient(_ call: Call) -> @Sendable (HTTPResponse) -> Bool {
        let readsErrorsIn200 = call.mayFailWithStatus200
        return { response in
            let errorBody = response.isSuccess && !readsErrorsIn200 ? nil : S3ErrorBody(response.body)
            return RequestRetryPolicy.isTransient(status: response.status, errorCode: errorBody?.code)
        }
    }

    func objectName(_ key: String) -> String {
        key.isEmpty ? location.description : "\(location.description)/\(key)"
    }

    private func label(_ call: Call) -> String {
        "\(call.method) \(objectName(call.key))"
    }

    /// The error for a call that did not succeed, with advice where the S3 error code gives some.
    func error(_ call: Call, _ outcome: ExchangeOutcome) -> DestinationError {
        let name = objectName(call.key)
        switch outcome.result {
        case .failure(let failure) where failure.isCancellation:
            return DestinationError(operation: call.operation, location: name, reason: .cancelled, attempts: outcome.attempts)
        case .failure(let failure):
            return DestinationError(
                operation: call.operation, location: name, reason: .transport(failure.message), attempts: outcome.attempts,
                isTransient: failure.isTransient,
                hint: failure.isTransient ? "check that \(location.scheme)://\(location.endpoint) is reachable" : nil)
        case .success(let response):
            let body = S3ErrorBody(response.body)
            return DestinationError(
                operation: call.operation, location: name,
                reason: .status(response.status, code: body?.code, message: body?.message), attempts: outcome.attempts,
                isTransient: RequestRetryPolicy.isTransient(status: response.status, errorCode: body?.code),
                hint: hint(status: response.status, code: body?.code, regionHeader: response.header("x-amz-bucket-region")))
        }
    }

    private var unknownStorageClass: String {
        "the server may have no storage class \(location.storageClass ?? "STANDARD"): correct storage-class= in the store URL, or remove it"
    }

    private func hint(status: Int, code: String?, regionHeader: String?) -> String? {
        let otherRegion = "the bucket is in another region\(regionHeader.map { " (\($0))" } ?? ""): set region= in the store URL"
        switch code {
        case "SignatureDoesNotMatch":
            return "the secret access key does not match \(credentials.latest): check AWS_SECRET_ACCESS_KEY or the credentials file"
        case "InvalidAccessKeyId":
            return "S3 does not know \(credentials)"
        case "ExpiredToken", "TokenRefreshRequired", "InvalidToken":
            return "the session token of \(credentials.latest) has expired and a refresh did not help: check \(credentials.latest.source)"
        case "RequestTimeTooSkewed":
            return "this machine's clock is off; S3 accepts requests within 15 minutes of its own time"
        case "NoSuchBucket":
            return "create the bucket, or correct the bucket name, region= or endpoint= in the store URL"
        case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
            return otherRegion
        case "EntityTooSmall":
            return "S3 wants parts of at least 5 MiB: raise multipart-chunk-size"
        case "AccessDenied":
            return "\(credentials) may not do this: check the bucket's policy and the key's IAM permissions"
        case "InvalidStorageClass":
            return unknownStorageClass
        case "InvalidArgument" where location.storageClass != nil:
            // Ceph's RGW answers so for a storage class its zone's placement lacks.
            return unknownStorageClass
        default:
            if status == 403 { return "check \(credentials) and its permissions on bucket \(location.bucket)" }
            if status == 301 { return otherRegion }
            if RequestRetryPolicy.isTransient(status: status, errorCode: code) { return "S3 kept failing; try again later" }
            return nil
        }
    }
}

/// The credentials an exchange's latest attempt was signed with, for telling whether S3
/// refused those very keys.
private final class SigningRecord: Sendable {
    private let value = Locked<S3Credentials?>(nil)

    var credentials: S3Credentials? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

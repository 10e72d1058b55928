import Synchronization

/// A request and its retries: the curl driver sends it until it has an outcome worth
/// reporting, then calls `completion` on the driver thread (which must not block there).
final class Exchange: @unchecked Sendable {
    /// What the request is about, for logs: "PUT s3://bucket/key". Never credentials.
    let label: String
    /// Builds each attempt's request; S3 signs every attempt anew, so a retry minutes later
    /// still carries a fresh date.
    let makeRequest: @Sendable () -> HTTPRequest
    /// Whether an answer is worth sending the request again for (5xx, 429, SlowDown...).
    let isTransient: @Sendable (HTTPResponse) -> Bool
    let cancellation: Cancellation?
    let completion: @Sendable (ExchangeOutcome) -> Void

    // Owned by the driver thread.
    var attempts = 0
    var firstAttemptStarted: ContinuousClock.Instant?

    init(
        label: String,
        cancellation: Cancellation? = nil,
        isTransient: @escaping @Sendable (HTTPResponse) -> Bool,
        makeRequest: @escaping @Sendable () -> HTTPRequest,
        completion: @escaping @Sendable (ExchangeOutcome) -> Void
    ) {
        self.label = label
        self.cancellation = cancellation
        self.isTransient = isTransient
        self.makeRequest = makeRequest
        self.completion = completion
    }
}

/// How an exchange ended: the last answer (successful or not) or the last transport failure.
struct ExchangeOutcome: Sendable {
    var result: Result<HTTPResponse, TransportFailure>
    var attempts: Int
}

/// Stops the exchanges that share it: the one under way is dropped, pending retries are not sent.
final class Cancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    init() {}

    var isCancelled: Bool { flag.load(ordering: .acquiring) }

    /// Marks the exchanges cancelled; `CurlMulti.cancel` also wakes the driver to act on it.
    func cancel() { flag.store(true, ordering: .releasing) }
}

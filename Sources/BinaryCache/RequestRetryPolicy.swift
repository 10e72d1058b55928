import Foundation

/// When and how long to wait before sending a failed request again: exponential backoff with
/// full jitter (a random wait between zero and the backoff), so that many clients throttled
/// at once do not come back at once.
public struct RequestRetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var maximumAttempts: Int
    /// The backoff before the second attempt; it doubles for each further attempt.
    public var initialDelay: Duration
    /// The backoff stops growing here.
    public var maximumDelay: Duration
    /// No request is retried once this much time has passed since its first attempt, so a
    /// destination that stays down fails the upload instead of stalling it forever.
    public var maximumTotalTime: Duration

    public init(maximumAttempts: Int, initialDelay: Duration, maximumDelay: Duration, maximumTotalTime: Duration) {
        self.maximumAttempts = maximumAttempts
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.maximumTotalTime = maximumTotalTime
    }

    /// Ten attempts within five minutes, waiting up to 30 s between them.
    public static let standard = RequestRetryPolicy(
        maximumAttempts: 10, initialDelay: .milliseconds(250), maximumDelay: .seconds(30), maximumTotalTime: .seconds(300))

    /// How long to wait before the attempt after `attempt` (1-based), or nil to give up.
    /// A server's `Retry-After` is waited at least, if the time budget allows it.
    func delay(after attempt: Int, elapsed: Duration, retryAfter: Duration? = nil) -> Duration? {
        guard attempt < maximumAttempts else { return nil }
        let doublings = min(attempt - 1, 30)
        let backoff = min(maximumDelay, initialDelay * (1 << doublings))
        let jitter = backoff * Double.random(in: 0...1)
        let delay = max(jitter, retryAfter ?? .zero)
        return elapsed + delay <= maximumTotalTime ? delay : nil
    }

    /// Whether a response says "try again later": server errors, throttling, and S3's error
    /// codes that mean the same under another status (`RequestTimeout` comes with 400).
    static func isTransient(status: Int, errorCode: String?) -> Bool {
        if status >= 500 || status == 429 || status == 408 { return true }
        guard let errorCode else { return false }
        return ["SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"].contains(errorCode)
    }

    /// Whether an answer asks the client to send fewer requests: 429 Too Many Requests (B2,
    /// HTTP caches), S3's 503 SlowDown and the error codes other S3 servers use for it, and a
    /// 503 without a body, which is how S3 answers a HEAD it throttles.
    static func isThrottling(status: Int, body: [UInt8]) -> Bool {
        if status == 429 || (status == 503 && body.isEmpty) { return true }
        guard status == 503 || status == 400, let code = S3ErrorBody(body)?.code else { return false }
        return ["SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"].contains(code)
    }

    /// The wait a `Retry-After` header asks for: seconds, or an HTTP date.
    static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(max(0, Int(date.timeIntervalSince(now) * 1000)))
    }
}

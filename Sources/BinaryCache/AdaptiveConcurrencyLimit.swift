/// How many requests may be in flight to one destination, adapted to what the server says:
/// additive increase, multiplicative decrease (AIMD, as TCP does). An answer that says "slow
/// down" (S3's 503 SlowDown, 429 Too Many Requests) cuts the limit by `decreaseFactor`; once
/// such answers stop for `quietPeriod`, every `current` requests that complete raise it by one,
/// up to `ceiling` (the configured parallelism). Throttling meets the retries' backoff and
/// `Retry-After` too: those space one request's attempts, this spaces the destination's requests.
///
/// Pure bookkeeping: the caller says when things happened, so tests drive it with made-up
/// instants. A latency-aware increase (grow while latency stays flat, issue #15) fits in
/// `completed`: it would keep a baseline of the latencies seen and grow faster while new
/// ones stay near it.
struct AdaptiveConcurrencyLimit: Sendable {
    typealias Instant = ContinuousClock.Instant

    /// What changed the limit, for logs and metrics.
    enum Change: Sendable, Equatable {
        case decreased(from: Int, to: Int)
        case increased(from: Int, to: Int)
    }

    /// The configured parallelism: the limit never grows past it, and starts there.
    let ceiling: Int
    /// The fraction of the limit kept after a throttling answer.
    let decreaseFactor: Double
    /// How long no throttling answer must come before the limit grows again.
    let quietPeriod: Duration
    /// Requests that may be in flight now.
    private(set) var current: Int
    private var lastDecrease: Instant?
    private var lastThrottled: Instant?
    private var completedSinceChange = 0

    init(ceiling: Int, decreaseFactor: Double = 0.5, quietPeriod: Duration = .seconds(1)) {
        self.ceiling = max(1, ceiling)
        self.decreaseFactor = decreaseFactor
        self.quietPeriod = quietPeriod
        current = self.ceiling
    }

    /// A request sent at `sent` was answered "slow down" at `now`. The limit is cut once per
    /// round: answers to requests sent before the last cut were sent under the old limit and
    /// say nothing about the new one.
    mutating func throttled(sent: Instant, now: Instant) -> Change? {
        lastThrottled = now
        completedSinceChange = 0
        if let lastDecrease, sent < lastDecrease { return nil }
        lastDecrease = now
        let before = current
        current = max(1, Int((Double(current) * decreaseFactor).rounded(.down)))
        return current == before ? nil : .decreased(from: before, to: current)
    }

    /// A request completed at `now` without being throttled (whatever its status).
    mutating func completed(now: Instant) -> Change? {
        guard current < ceiling else { return nil }
        if let lastThrottled, now - lastThrottled < quietPeriod { return nil }
        completedSinceChange += 1
        guard completedSinceChange >= current else { return nil }
        completedSinceChange = 0
        current += 1
        return .increased(from: current - 1, to: current)
    }
}

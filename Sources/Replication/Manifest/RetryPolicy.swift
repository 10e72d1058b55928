/// How long a path waits after a failed attempt: exponential backoff, capped, with jitter.
///
/// Failed paths are never dropped; after enough failures they are retried every `maximum`.
/// The jitter spreads retries of paths that failed together (an outage of the cache) so that
/// they do not all return in the same second.
public struct RetryPolicy: Sendable, Equatable {
    /// The wait after the first failure.
    public var initial: Duration
    /// The longest wait, reached after a few failures.
    public var maximum: Duration
    /// The fraction of the wait that is random: 0.2 waits between 80% and 100% of it.
    public var jitter: Double

    public init(initial: Duration = .seconds(10), maximum: Duration = .seconds(3600), jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The wait after the `attempts`-th consecutive failure (1 for the first), before jitter.
    public func backoff(afterAttempts attempts: Int) -> Duration {
        // Doubling past 2^30 overflows nothing here because the cap is reached far earlier.
        let doublings = min(max(attempts - 1, 0), 30)
        let delay = initial * (1 << doublings)
        return min(delay, maximum)
    }

    /// The wait after the `attempts`-th failure with jitter applied; `randomFraction` in 0..<1.
    public func delay(afterAttempts attempts: Int, randomFraction: Double = .random(in: 0..<1)) -> Duration {
        backoff(afterAttempts: attempts) * (1 - jitter * randomFraction)
    }
}

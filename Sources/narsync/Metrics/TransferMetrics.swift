import BinaryCache
import Metrics
import SystemSupport

/// Carries a destination's transfer counts (retries, throttling answers, resumed multipart
/// uploads and their parts) into counters, and its current limit on requests in flight into a
/// gauge: `update()` adds what happened since the last call.
final class TransferMetrics: Sendable {
    private struct Counts {
        var retries = 0, uploadsResumed = 0, partsResumed = 0, throttled = 0
    }

    private let statistics: TransferStatistics
    private let retries: Counter
    private let uploadsResumed: Counter
    private let partsResumed: Counter
    private let throttled: Counter
    private let requestLimit: Gauge
    private let seen = Locked(Counts())

    init(_ statistics: TransferStatistics, destination: String) {
        self.statistics = statistics
        let dimensions = [("destination", destination)]
        retries = Counter(label: "narsync_request_retries_total", dimensions: dimensions)
        uploadsResumed = Counter(label: "narsync_multipart_uploads_resumed_total", dimensions: dimensions)
        partsResumed = Counter(label: "narsync_multipart_parts_resumed_total", dimensions: dimensions)
        throttled = Counter(label: "narsync_requests_throttled_total", dimensions: dimensions)
        requestLimit = Gauge(label: "narsync_requests_in_flight_limit", dimensions: dimensions)
    }

    func update() {
        let now = Counts(
            retries: statistics.retries, uploadsResumed: statistics.uploadsResumed, partsResumed: statistics.partsReused,
            throttled: statistics.throttledAnswers)
        let before = seen.withLock { seen in
            defer { seen = now }
            return seen
        }
        retries.increment(by: now.retries - before.retries)
        uploadsResumed.increment(by: now.uploadsResumed - before.uploadsResumed)
        partsResumed.increment(by: now.partsResumed - before.partsResumed)
        throttled.increment(by: now.throttled - before.throttled)
        requestLimit.record(statistics.requestLimit)
    }
}

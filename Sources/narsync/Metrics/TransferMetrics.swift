import BinaryCache
import Metrics
import Synchronization

/// Carries a destination's transfer counts (retries, resumed multipart parts) into counters:
/// `update()` adds what happened since the last call.
final class TransferMetrics: Sendable {
    private let statistics: TransferStatistics
    private let retries: Counter
    private let partsResumed: Counter
    private let seen = Mutex((retries: 0, partsResumed: 0))

    init(_ statistics: TransferStatistics, destination: String) {
        self.statistics = statistics
        retries = Counter(label: "narsync_request_retries_total", dimensions: [("destination", destination)])
        partsResumed = Counter(label: "narsync_multipart_parts_resumed_total", dimensions: [("destination", destination)])
    }

    func update() {
        let (retriesNow, partsNow) = (statistics.retries, statistics.partsReused)
        let (newRetries, newParts) = seen.withLock { seen in
            defer { seen = (retriesNow, partsNow) }
            return (retriesNow - seen.retries, partsNow - seen.partsResumed)
        }
        if newRetries > 0 { retries.increment(by: newRetries) }
        if newParts > 0 { partsResumed.increment(by: newParts) }
    }
}

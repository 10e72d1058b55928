import BinaryCache
import Metrics
import SystemSupport

/// Carries a destination's transfer counts (retries, resumed multipart uploads and their parts)
/// into counters: `update()` adds what happened since the last call.
final class TransferMetrics: Sendable {
    private struct Counts {
        var retries = 0, uploadsResumed = 0, partsResumed = 0
    }

    private let statistics: TransferStatistics
    private let retries: Counter
    private let uploadsResumed: Counter
    private let partsResumed: Counter
    private let seen = Locked(Counts())

    init(_ statistics: TransferStatistics, destination: String) {
        self.statistics = statistics
        let dimensions = [("destination", destination)]
        retries = Counter(label: "narsync_request_retries_total", dimensions: dimensions)
        uploadsResumed = Counter(label: "narsync_multipart_uploads_resumed_total", dimensions: dimensions)
        partsResumed = Counter(label: "narsync_multipart_parts_resumed_total", dimensions: dimensions)
    }

    func update() {
        let now = Counts(retries: statistics.retries, uploadsResumed: statistics.uploadsResumed, partsResumed: statistics.partsReused)
        let before = seen.withLock { seen in
            defer { seen = now }
            return seen
        }
        retries.increment(by: now.retries - before.retries)
        uploadsResumed.increment(by: now.uploadsResumed - before.uploadsResumed)
        partsResumed.increment(by: now.partsResumed - before.partsResumed)
    }
}

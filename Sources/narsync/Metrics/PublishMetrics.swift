import Foundation
import Metrics
import NixStore
import Replication

/// Counts what the pipeline does for one destination, through swift-metrics: paths published,
/// skipped (already cached) and failed, NAR bytes read and compressed bytes sent, and how long
/// each path waited between its registration in Nix's database and its publication.
struct PublishMetrics: PublishProgress {
    private let published: Counter
    private let skipped: Counter
    private let failed: Counter
    private let bytesRead: Counter
    private let bytesSent: Counter
    private let latency: Metrics.Timer

    static let latencyLabel = "narsync_publication_latency_seconds"

    init(destination: String) {
        let dimensions = [("destination", destination)]
        published = Counter(label: "narsync_paths_published_total", dimensions: dimensions)
        skipped = Counter(label: "narsync_paths_skipped_total", dimensions: dimensions)
        failed = Counter(label: "narsync_paths_failed_total", dimensions: dimensions)
        bytesRead = Counter(label: "narsync_nar_bytes_read_total", dimensions: dimensions)
        bytesSent = Counter(label: "narsync_bytes_sent_total", dimensions: dimensions)
        latency = Metrics.Timer(label: Self.latencyLabel, dimensions: dimensions)
    }

    func batchStarted(paths: Int, narBytes: UInt64, alreadyCached: Int) {
        skipped.increment(by: alreadyCached)
    }

    func pathPublished(_ info: ValidPathInfo, nar: UploadedNar) {
        published.increment()
        bytesRead.increment(by: Int(clamping: info.narSize))
        bytesSent.increment(by: Int(clamping: nar.fileSize))
        // Nix records registration in whole seconds; a path published within that second waited ~0.
        let waited = max(0, Date().timeIntervalSince1970 - Double(info.registrationTime))
        latency.recordNanoseconds(Int64(waited * 1e9))
    }

    func pathFailed(_ error: PublishError) {
        failed.increment()
    }
}

/// Several listeners of one publication: the progress bar and the metrics.
struct CombinedProgress: PublishProgress {
    var listeners: [any PublishProgress]

    func batchStarted(paths: Int, narBytes: UInt64, alreadyCached: Int) {
        for listener in listeners { listener.batchStarted(paths: paths, narBytes: narBytes, alreadyCached: alreadyCached) }
    }

    func pathPublished(_ info: ValidPathInfo, nar: UploadedNar) {
        for listener in listeners { listener.pathPublished(info, nar: nar) }
    }

    func pathFailed(_ error: PublishError) {
        for listener in listeners { listener.pathFailed(error) }
    }
}

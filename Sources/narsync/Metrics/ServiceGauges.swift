import Metrics
import NixStore
import Replication
import SystemSupport

/// The service's state as gauges, sampled from the manifest and the Nix database: queue depth,
/// lag behind the database, multipart uploads in flight, per destination. Transfer counters
/// are brought up to date at the same time.
struct ServiceGauges: Sendable {
    struct Destination: Sendable {
        var name: String
        var transfers: TransferMetrics?
        var credentials: CredentialMetrics? = nil
    }

    var destinations: [Destination]
    var manifest: AsyncManifest
    var layout: StoreLayout
    var interval: Duration = .seconds(2)

    /// Samples every `interval` until cancelled; the Nix database is read on its own thread.
    func run() async {
        let executor = BlockingExecutor(threadCount: 1, name: "narsync-gauges")
        defer { executor.shutdown() }
        let layout = layout
        while !Task.isCancelled {
            let newest = try? await executor.run { try StoreDatabase(layout: layout).newestID() }
            for destination in destinations {
                destination.transfers?.update()
                destination.credentials?.update()
                let name = destination.name
                guard let status = try? await manifest.run({ try $0.status(for: name) }) else { continue }
                let dimensions = [("destination", name)]
                Gauge(label: "narsync_queue_depth", dimensions: dimensions).record(status.queued)
                Gauge(label: "narsync_queue_retrying", dimensions: dimensions).record(status.retrying)
                Gauge(label: "narsync_multipart_uploads_in_flight", dimensions: dimensions).record(status.uploadsInFlight)
                if let newest {
                    Gauge(label: "narsync_lag_rows", dimensions: dimensions).record(status.lag(newestDatabaseID: newest))
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}

import BinaryCache
import Metrics
import NarsyncService
import ServiceLifecycle

/// The service's state as gauges, from the figures the supervisor's services report every
/// `interval`: queue depth, lag behind the database, multipart uploads in flight, per
/// destination. Transfer counters and credential expiry are brought up to date at the same time.
struct ServiceGauges: Service {
    let supervisor: ReplicationSupervisor
    var interval: Duration = .seconds(2)

    /// Samples until cancelled, or until a graceful shutdown.
    func run() async throws {
        await cancelWhenGracefulShutdown {
            var transfers: [DestinationIdentity: TransferMetrics] = [:]
            var credentials: [DestinationIdentity: CredentialMetrics] = [:]
            while !Task.isCancelled {
                for (destination, figures) in await supervisor.figures() {
                    let name = destination.identity.url
                    if transfers[destination.identity] == nil, let statistics = (destination as? any TransferStatisticsReporting)?.statistics {
                        transfers[destination.identity] = TransferMetrics(statistics, destination: name)
                    }
                    transfers[destination.identity]?.update()
                    if credentials[destination.identity] == nil, let cache = (destination as? S3Destination)?.credentials {
                        credentials[destination.identity] = CredentialMetrics(cache, destination: name)
                    }
                    credentials[destination.identity]?.update()
                    guard let figures else { continue }
                    let dimensions = [("destination", name)]
                    Gauge(label: "narsync_queue_depth", dimensions: dimensions).record(figures.status.queued)
                    Gauge(label: "narsync_queue_retrying", dimensions: dimensions).record(figures.status.retrying)
                    Gauge(label: "narsync_multipart_uploads_in_flight", dimensions: dimensions).record(figures.status.uploadsInFlight)
                    Gauge(label: "narsync_lag_rows", dimensions: dimensions).record(figures.lag)
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}

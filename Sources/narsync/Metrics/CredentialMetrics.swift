import BinaryCache
import Foundation
import Metrics
import SystemSupport

/// A destination's AWS credentials as metrics: when they expire (seconds since 1970; absent
/// for keys that do not) and how many refreshes failed.
final class CredentialMetrics: Sendable {
    private let credentials: CredentialCache
    private let expiry: Gauge
    private let failures: Counter
    private let failuresSeen = Locked(0)

    init(_ credentials: CredentialCache, destination: String) {
        self.credentials = credentials
        let dimensions = [("destination", destination)]
        expiry = Gauge(label: "narsync_credentials_expiry_timestamp_seconds", dimensions: dimensions)
        failures = Counter(label: "narsync_credentials_refresh_failures_total", dimensions: dimensions)
    }

    func update() {
        let status = credentials.status
        if let expiration = status.expiration { expiry.record(expiration.timeIntervalSince1970) }
        let before = failuresSeen.withLock { seen in
            defer { seen = status.refreshFailures }
            return seen
        }
        failures.increment(by: status.refreshFailures - before)
    }
}

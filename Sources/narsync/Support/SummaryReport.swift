import BinaryCache
import Foundation
import NixStore
import Replication
import SystemSupport

/// The closing lines of a backfill: what was done, how much, how fast, and what failed.
struct SummaryReport {
    var summary: PublishSummary
    var storeDirectory: StoreDirectory
    var transfers: TransferStatistics?

    init(_ summary: PublishSummary, storeDirectory: StoreDirectory, transfers: TransferStatistics? = nil) {
        self.summary = summary
        self.storeDirectory = storeDirectory
        self.transfers = transfers
    }

    var text: String {
        let seconds = summary.duration.timeInterval
        let rate = seconds > 0 ? UInt64(Double(summary.narBytes) / seconds) : 0
        var lines = [
            "uploaded \(summary.published.count), already cached \(summary.alreadyCached), failed \(summary.failures.count), vanished \(summary.vanished.count)",
            "bytes: \(ByteCount(summary.narBytes)) read, \(ByteCount(summary.compressedBytes)) compressed; \(summary.duration.readable), \(ByteCount(rate))/s",
        ]
        if let transfers {
            lines.append("requests: \(transfers.requests), retries \(transfers.retries), parts resumed \(transfers.partsReused)")
        }
        lines += summary.failures.map { "failed: \($0.message(in: storeDirectory))" }
        return lines.joined(separator: "\n")
    }
}

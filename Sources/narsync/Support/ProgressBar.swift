import Foundation
import NixStore
import Replication
import SystemSupport

/// A one-line live progress display on standard error, for interactive runs:
/// `[=====>     ] 12/40 paths  1.2/3.4 GiB  85.3 MB/s  ETA 0:27`
final class ProgressBar: PublishProgress {
    private struct State {
        var totalPaths = 0
        var totalBytes: UInt64 = 0
        var donePaths = 0
        var failedPaths = 0
        var doneBytes: UInt64 = 0
        var lastDraw = ContinuousClock.now - .seconds(1)
    }

    private let state = Locked(State())
    private let start = ContinuousClock.now

    func batchStarted(paths: Int, narBytes: UInt64, alreadyCached: Int) {
        state.withLock {
            $0.totalPaths += paths
            $0.totalBytes += narBytes
        }
        draw(force: true)
    }

    func pathPublished(_ info: ValidPathInfo, nar: UploadedNar) {
        state.withLock {
            $0.donePaths += 1
            $0.doneBytes += info.narSize
        }
        draw(force: false)
    }

    func pathFailed(_ error: PublishError) {
        state.withLock { $0.failedPaths += 1 }
        draw(force: false)
    }

    /// Leaves the last state on screen and moves to a new line.
    func finish() {
        draw(force: true)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(force: Bool) {
        let line: String? = state.withLock { state in
            let now = ContinuousClock.now
            // Redrawing more than ten times a second costs more than it tells.
            guard force || now - state.lastDraw >= .milliseconds(100) else { return nil }
            state.lastDraw = now
            return Self.render(state, elapsed: now - start)
        }
        if let line { FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8)) }
    }

    private static func render(_ state: State, elapsed: Duration) -> String {
        let fraction = state.totalBytes > 0 ? Double(state.doneBytes) / Double(state.totalBytes)
            : state.totalPaths > 0 ? Double(state.donePaths) / Double(state.totalPaths) : 1
        let width = 24
        let filled = min(width, Int(fraction * Double(width)))
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
        let seconds = elapsed.timeInterval
        let rate = seconds > 0 ? Double(state.doneBytes) / seconds : 0
        var line = "[\(bar)] \(state.donePaths)/\(state.totalPaths) paths  \(ByteCount(state.doneBytes))/\(ByteCount(state.totalBytes))  \(ByteCount(UInt64(rate)))/s"
        if rate > 0, state.doneBytes < state.totalBytes {
            let remaining = Int(Double(state.totalBytes - state.doneBytes) / rate)
            line += String(format: "  ETA %d:%02d", remaining / 60, remaining % 60)
        }
        if state.failedPaths > 0 { line += "  \(state.failedPaths) failed" }
        return line
    }
}

/// A byte count for people: `1.2 GiB`.
struct ByteCount: CustomStringConvertible {
    var bytes: UInt64
    init(_ bytes: UInt64) { self.bytes = bytes }

    var description: String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// `verify` and `gc` drive the same bar, counting narinfos or NARs as items.
extension ProgressBar: MaintenanceProgress {
    func started(items: Int, bytes: UInt64) {
        state.withLock {
            $0.totalPaths += items
            $0.totalBytes += bytes
        }
        draw(force: true)
    }

    func advanced(items: Int, bytes: UInt64) {
        state.withLock {
            $0.donePaths += items
            $0.doneBytes += bytes
        }
        draw(force: false)
    }
}

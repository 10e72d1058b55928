import Foundation
import NixStore
import Replication
import SystemSupport

/// A one-line live progress display on standard error, for interactive runs:
/// `[=====>     ] 12/40 paths  1.2/3.4 GiB  85.3 MB/s  ETA 0:27`
///
/// Publishing only counts (a lock and two additions per path); a thread of its own draws the
/// line at a fixed rate, so a slow terminal never holds up an upload and 100,000 small paths
/// cost 100,000 additions, not 100,000 redraws.
final class ProgressBar: PublishProgress, Sendable {
    private struct State {
        var totalPaths = 0
        var totalBytes: UInt64 = 0
        var donePaths = 0
        var failedPaths = 0
        var doneBytes: UInt64 = 0
        /// Whether anything changed since the last line drawn.
        var changed = false
    }

    /// Ten lines a second: more costs more than it tells.
    static let defaultInterval: Duration = .milliseconds(100)

    private let state = Locked(State())
    private let start = ContinuousClock.now
    private let output: @Sendable (String) -> Void
    private let stopped = DispatchSemaphore(value: 0)
    /// Held while a line is written, so that none comes after `finish`'s last; true once finished.
    private let drawing = Locked(false)

    /// - Parameters:
    ///   - interval: how often the line is redrawn while something changes.
    ///   - output: where a line goes (with the carriage return that overwrites the last one).
    init(interval: Duration = ProgressBar.defaultInterval,
         output: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.output = output
        let thread = Thread { [weak self, stopped] in
            // A stop (finish) wakes the wait early; a timeout is the next tick.
            while stopped.wait(timeout: .now() + interval.timeInterval) == .timedOut {
                guard let self else { return }
                self.draw(onlyIfChanged: true)
            }
        }
        thread.name = "progress-bar"
        thread.stackSize = 256 * 1024
        thread.start()
    }

    deinit { stopped.signal() }

    func batchStarted(paths: Int, narBytes: UInt64, alreadyCached: Int) {
        state.withLock {
            $0.totalPaths += paths
            $0.totalBytes += narBytes
            $0.changed = true
        }
    }

    func pathPublished(_ info: ValidPathInfo, nar: UploadedNar) {
        state.withLock {
            $0.donePaths += 1
            $0.doneBytes += info.narSize
            $0.changed = true
        }
    }

    func pathFailed(_ error: PublishError) {
        state.withLock {
            $0.failedPaths += 1
            $0.changed = true
        }
    }

    /// Stops redrawing, leaves the last state on screen and moves to a new line.
    func finish() {
        stopped.signal()
        drawing.withLock { finished in
            guard !finished else { return }
            finished = true
            output("\r\u{1B}[K\(line())\n")
        }
    }

    private func draw(onlyIfChanged: Bool) {
        drawing.withLock { finished in
            guard !finished, state.withLock({ $0.changed }) || !onlyIfChanged else { return }
            output("\r\u{1B}[K\(line())")
        }
    }

    /// The current state as a line; marks it drawn.
    private func line() -> String {
        state.withLock { state in
            state.changed = false
            return Self.render(state, elapsed: ContinuousClock.now - start)
        }
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

/// `verify` and `gc` drive the same bar, counting narinfos or NARs as items; it is drawn at
/// its own rate, as for publishing.
extension ProgressBar: MaintenanceProgress {
    func started(items: Int, bytes: UInt64) {
        state.withLock {
            $0.totalPaths += items
            $0.totalBytes += bytes
            $0.changed = true
        }
    }

    func advanced(items: Int, bytes: UInt64) {
        state.withLock {
            $0.donePaths += items
            $0.doneBytes += bytes
            $0.changed = true
        }
    }
}

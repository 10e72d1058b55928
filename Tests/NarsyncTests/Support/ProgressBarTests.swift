import Foundation
import NixStore
@testable import Replication
import SystemSupport
import Testing
@testable import narsync

@Suite struct ProgressBarTests {
    /// The lines a progress bar wrote, in order.
    final class Screen: Sendable {
        private let writes = SystemSupport.Locked<[String]>([])
        func write(_ text: String) { writes.withLock { $0.append(text) } }
        var lines: [String] { writes.withLock { $0 } }
    }

    let info = ValidPathInfo(
        id: 1, path: try! StorePath(baseName: "00rn9ycyln9km24xqsq6y3bd5njkazsv-small"),
        narHash: NixHash(SHA256Hasher.hash([0])), narSize: 1024)
    let nar = UploadedNar(key: "nar/x.nar.zst", fileHash: NixHash(SHA256Hasher.hash([1])), fileSize: 512)

    @Test func publishingOnlyCountsAndTheLastStateIsDrawnAtTheEnd() {
        let screen = Screen()
        // No tick comes during the test: whatever is written, publishing wrote it.
        let bar = ProgressBar(interval: .seconds(3600), output: screen.write)
        bar.batchStarted(paths: 100_000, narBytes: 100_000 * 1024, alreadyCached: 0)
        for _ in 0..<100_000 { bar.pathPublished(info, nar: nar) }
        #expect(screen.lines.isEmpty)
        bar.finish()
        #expect(screen.lines.count == 1)
        #expect(screen.lines.last?.contains("100000/100000 paths") == true, "\(screen.lines)")
        #expect(screen.lines.last?.hasSuffix("\n") == true)
        // Nothing after the last line, however late.
        bar.finish()
        #expect(screen.lines.count == 1)
    }

    @Test func redrawsAtAFixedRateOnlyWhenSomethingChanged() async throws {
        let screen = Screen()
        let bar = ProgressBar(interval: .milliseconds(10), output: screen.write)
        bar.batchStarted(paths: 3, narBytes: 3 * 1024, alreadyCached: 0)
        try await waitUntil { screen.lines.count >= 1 }
        bar.pathPublished(info, nar: nar)
        try await waitUntil { screen.lines.count >= 2 }
        // Nothing changes: no redraw, however many ticks pass.
        let drawn = screen.lines.count
        try await Task.sleep(for: .milliseconds(100))
        #expect(screen.lines.count == drawn)
        #expect(screen.lines.last?.contains("1/3 paths") == true, "\(screen.lines)")
        bar.finish()
        #expect(screen.lines.last?.contains("1/3 paths") == true)
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("the progress bar drew nothing within 10 s")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

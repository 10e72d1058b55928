import Foundation
import TestSupport

/// Consumes a stream in the background and keeps what came and when, so a test can wait for
/// elements with a timeout without cancelling the consumer (which would end the stream).
final class StreamRecorder<Element: Sendable, Record: Sendable>: @unchecked Sendable {
    struct Entry {
        var element: Element
        var record: Record
        var at: ContinuousClock.Instant
    }

    private let lock = NSLock()
    private var entries: [Entry] = []
    private var finished = false

    /// `observe` runs for each element before it is recorded, as a consumer's work would.
    init(_ stream: AsyncStream<Element>, observe: @escaping @Sendable (Element) async -> Record) {
        Task {
            for await element in stream {
                let record = await observe(element)
                self.locked { $0.entries.append(Entry(element: element, record: record, at: .now)) }
            }
            self.locked { $0.finished = true }
        }
    }

    var recorded: [Entry] { locked { $0.entries } }
    var elements: [Element] { recorded.map(\.element) }
    var isFinished: Bool { locked { $0.finished } }

    /// Waits until `condition` holds for the entries so far, or `timeout` (scaled by `TestTiming`)
    /// passes; returns whether it held.
    @discardableResult
    func wait(upTo timeout: Duration, until condition: ([Entry]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout.scaled
        while ContinuousClock.now < deadline {
            if condition(recorded) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(recorded)
    }

    private func locked<T>(_ body: (StreamRecorder) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(self)
    }
}

extension StreamRecorder where Record == Void {
    convenience init(_ stream: AsyncStream<Element>) {
        self.init(stream) { _ in }
    }
}

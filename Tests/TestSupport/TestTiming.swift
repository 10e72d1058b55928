import Foundation

/// How many times slower than usual the tests run. 1 normally; `reliability/sanitizers` sets
/// `NARSYNC_TEST_TIME_SCALE` (ThreadSanitizer slows code several times over), and the tests'
/// waits and latency bounds are stretched by it, so that under a sanitizer they still measure
/// narsync rather than the instrumentation.
public enum TestTiming {
    public static let scale: Double = {
        guard let text = ProcessInfo.processInfo.environment["NARSYNC_TEST_TIME_SCALE"], let value = Double(text), value >= 1
        else { return 1 }
        return value
    }()
}

extension Duration {
    /// This duration stretched by `TestTiming.scale`: for a wait or an upper bound on latency.
    public var scaled: Duration { self * TestTiming.scale }
}

import Foundation

/// What a callback running on another thread was given, for a test to wait for and inspect.
public final class Recorder<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var values: [Value] = []

    public init() {}

    public func record(_ value: Value) {
        condition.lock()
        values.append(value)
        condition.broadcast()
        condition.unlock()
    }

    /// Everything recorded so far.
    public var recorded: [Value] {
        condition.lock()
        defer { condition.unlock() }
        return values
    }

    /// Waits until `count` values are recorded or `timeout` (scaled by `TestTiming`) passes, and
    /// returns what was recorded.
    public func wait(forCount count: Int, timeout: TimeInterval = 10) -> [Value] {
        let deadline = Date(timeIntervalSinceNow: timeout * TestTiming.scale)
        condition.lock()
        defer { condition.unlock() }
        while values.count < count && condition.wait(until: deadline) {}
        return values
    }
}

/// A made-up but valid store path base name, `<random nix32 hash>-<name>`.
public func randomStorePathBaseName(_ name: String) -> String {
    let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz")
    return String((0..<32).map { _ in alphabet.randomElement()! }) + "-" + name
}

import Foundation

/// A value that threads share, reached only under its lock: `Synchronization.Mutex`'s
/// `withLock`, over a pthread mutex (NSLock).
///
/// Not `Mutex` itself because ThreadSanitizer cannot see it: on Linux a contended `Mutex`
/// waits in the kernel (a priority-inheriting futex) from an uninstrumented library, so TSan
/// sees no order between the critical sections of two threads and reports each contended
/// hand-over as a data race (`reliability/sanitizers thread` found dozens in the curl driver's
/// inbox). TSan understands pthread mutexes, so its reports about shared state stay real ones.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the value, under the lock; do not block or call back out inside.
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

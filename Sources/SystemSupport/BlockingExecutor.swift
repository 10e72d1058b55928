import Foundation

/// A fixed set of dedicated threads for blocking work: file reads, zstd, SQLite, curl.
///
/// Swift's cooperative pool has as many threads as cores (two on a small builder); a single
/// blocking `read(2)` or SQLite busy-wait there stalls every task in the process. Blocking work
/// is therefore handed to an executor like this one and awaited through a continuation.
///
/// The queue is bounded: `run` suspends the caller, without blocking any thread, while
/// `maximumQueued` jobs are already waiting.
public final class BlockingExecutor: @unchecked Sendable {
    private let condition = NSCondition()
    /// Queued jobs from `jobsHead` on; the slots before it are nil, so that a finished job's
    /// closure, and everything it captured, is released as soon as the job ran.
    private var jobs: [(() -> Void)?] = []
    private var jobsHead = 0
    private var waitingSubmitters: [CheckedContinuation<Void, Never>] = []
    private var isShutDown = false
    private let maximumQueued: Int

    /// - Parameters:
    ///   - threadCount: how many jobs run at once.
    ///   - name: thread name prefix, shown by `top -H` and debuggers. Linux keeps 15 bytes of a
    ///     thread's name, so long prefixes are shortened to leave room for the thread's number.
    ///   - maximumQueued: jobs that may wait for a thread before `run` suspends its caller.
    public init(threadCount: Int, name: String, maximumQueued: Int = 1024) {
        precondition(threadCount > 0, "a BlockingExecutor needs at least one thread")
        self.maximumQueued = max(1, maximumQueued)
        // Threads keep the executor alive until `shutdown()` lets them return. The executor
        // keeps no reference to them, so that once they have returned it is freed.
        let threads = (0..<threadCount).map { index in
            let suffix = "-\(index)"
            let threadName = String(decoding: name.utf8.prefix(15 - suffix.utf8.count), as: UTF8.self) + suffix
            let thread = Thread {
                Thread.current.name = threadName
                Self.setKernelName(threadName)
                self.workLoop()
            }
            thread.stackSize = 1 << 20
            return thread
        }
        threads.forEach { $0.start() }
    }

    /// Gives the calling thread `name` where `top -H` and /proc read it. Foundation's setter
    /// does not always get there (the thread then keeps its creator's name, e.g. a Dispatch
    /// worker's), and Glibc's module has no pthread_setname_np; a thread may rename itself
    /// through its own comm file.
    private static func setKernelName(_ name: String) {
        guard let file = try? FileDescriptor(path: "/proc/thread-self/comm", flags: O_WRONLY) else { return }
        try? Array(name.utf8).withUnsafeBytes { try file.writeAll($0, path: "/proc/thread-self/comm") }
    }

    /// Runs `body` on one of the executor's threads and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        await waitForRoom()
        return try await withCheckedThrowingContinuation { continuation in
            let accepted = enqueue {
                continuation.resume(with: Result { try body() })
            }
            if !accepted { continuation.resume(throwing: CancellationError()) }
        }
    }

    /// Runs `body` on one of the executor's threads; for work that cannot fail.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await waitForRoom()
        return await withCheckedContinuation { continuation in
            let accepted = enqueue { continuation.resume(returning: body()) }
            precondition(accepted, "BlockingExecutor used after shutdown()")
        }
    }

    /// Lets queued jobs finish, then stops the threads. Jobs submitted afterwards are refused.
    public func shutdown() {
        condition.lock()
        isShutDown = true
        let submitters = waitingSubmitters
        waitingSubmitters.removeAll()
        condition.broadcast()
        condition.unlock()
        submitters.forEach { $0.resume() }
    }

    private var queuedCount: Int { jobs.count - jobsHead }

    private func waitForRoom() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if queuedCount < maximumQueued || isShutDown {
                condition.unlock()
                continuation.resume()
            } else {
                waitingSubmitters.append(continuation)
                condition.unlock()
            }
        }
    }

    private func enqueue(_ job: @escaping () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !isShutDown else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    private func workLoop() {
        while true {
            condition.lock()
            while queuedCount == 0 && !isShutDown { condition.wait() }
            if queuedCount == 0 && isShutDown {
                condition.unlock()
                return
            }
            let job = jobs[jobsHead].take()!
            jobsHead += 1
            if jobsHead > 64 && jobsHead * 2 > jobs.count {
                jobs.removeFirst(jobsHead)
                jobsHead = 0
            }
            let submitter = waitingSubmitters.isEmpty ? nil : waitingSubmitters.removeFirst()
            condition.unlock()
            submitter?.resume()
            job()
        }
    }
}

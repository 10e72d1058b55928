import Foundation
import Testing
import TestSupport
@testable import SystemSupport

@Suite struct BlockingExecutorTests {
    @Test func runsJobsOffTheCooperativePoolAndReturnsResults() async {
        let executor = BlockingExecutor(threadCount: 2, name: "test")
        defer { executor.shutdown() }
        let names = await withTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask { await executor.run { currentThreadName() } }
            }
            return await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(names.isSubset(of: ["test-0", "test-1"]))
        #expect(!names.isEmpty)
    }

    @Test func propagatesErrors() async {
        struct Boom: Error {}
        let executor = BlockingExecutor(threadCount: 1, name: "test")
        defer { executor.shutdown() }
        await #expect(throws: Boom.self) { try await executor.run { () throws -> Int in throw Boom() } }
    }

    private func currentThreadName() -> String {
        // The kernel's name for the calling thread, as `top -H` shows it.
        let name = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
        return name?.trimmingCharacters(in: .newlines) ?? ""
    }

    @Test func boundedQueueSuspendsSubmittersUntilThereIsRoom() async {
        let executor = BlockingExecutor(threadCount: 1, name: "test", maximumQueued: 2)
        defer { executor.shutdown() }
        let total = await withTaskGroup(of: Int.self) { group in
            for value in 0..<50 {
                group.addTask { await executor.run { usleep(200); return value } }
            }
            return await group.reduce(0, +)
        }
        #expect(total == (0..<50).reduce(0, +))
    }

    /// Found by LeakSanitizer (`reliability/sanitizers address`): a finished job's closure stayed
    /// in the queue until 64 more jobs ran. A job capturing its owner (the service's Nix database
    /// reader does) then kept the owner, its SQLite connection and the executor's thread alive
    /// for good, once per configuration reload.
    @Test func aFinishedJobReleasesWhatItCaptured() async {
        let executor = BlockingExecutor(threadCount: 1, name: "test")
        defer { executor.shutdown() }
        weak var released: Captured?
        do {
            let captured = Captured()
            released = captured
            await executor.run { _ = captured }
        }
        #expect(eventually(timeout: .seconds(5)) { released == nil })
    }

    /// Found by LeakSanitizer: the executor kept its threads and each thread's closure kept the
    /// executor, so an executor was never freed, even after `shutdown()` ended its threads.
    @Test func anExecutorIsFreedOnceShutDown() async {
        weak var released: BlockingExecutor?
        do {
            let executor = BlockingExecutor(threadCount: 2, name: "test")
            released = executor
            #expect(await executor.run { 1 } == 1)
            executor.shutdown()
        }
        #expect(eventually(timeout: .seconds(5)) { released == nil })
    }
}

private final class Captured: Sendable {}

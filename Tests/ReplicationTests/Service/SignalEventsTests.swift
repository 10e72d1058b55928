import Glibc
import Testing
@testable import Replication

/// Signals go to the whole test process, so these run one at a time. They are sent with
/// kill(2) to the process, as systemd and terminals send them: raise(3) from a test's thread
/// would target that thread alone, and the cooperative pool's threads block all signals.
@Suite(.serialized) struct SignalEventsTests {
    @Test func hangupReloadsAndTerminateOrInterruptStop() async throws {
        let signals = try SignalEvents.start()
        defer { signals.cancel() }
        let events = StreamRecorder(signals.events)

        kill(getpid(), SIGHUP)
        #expect(await events.wait(upTo: .seconds(2)) { $0.count == 1 })
        #expect(events.elements == [.reload])

        kill(getpid(), SIGTERM)
        #expect(await events.wait(upTo: .seconds(2)) { $0.count == 2 })
        kill(getpid(), SIGINT)
        #expect(await events.wait(upTo: .seconds(2)) { $0.count == 3 })
        #expect(events.elements == [.reload, .stop, .stop])
    }

    @Test func aPendingStopIsNotReplacedByAReload() async throws {
        let signals = try SignalEvents.start()
        defer { signals.cancel() }
        kill(getpid(), SIGTERM)
        try await Task.sleep(for: .milliseconds(200))
        kill(getpid(), SIGHUP)
        try await Task.sleep(for: .milliseconds(200))
        // Nobody consumed yet: the one buffered event is the stop.
        var iterator = signals.events.makeAsyncIterator()
        #expect(await iterator.next() == .stop)
        signals.cancel()
        #expect(await iterator.next() == nil)
    }
}

extension SignalEventsTests {
    @Test func theDefaultActionsComeBackWhenTheLastIsCancelled() throws {
        func isCaught(_ signal: Int32) -> Bool {
            var action = sigaction()
            sigaction(signal, nil, &action)
            return action.__sigaction_handler.sa_handler != nil  // SIG_DFL is a null handler
        }
        let first = try SignalEvents.start()
        let second = try SignalEvents.start()
        #expect(isCaught(SIGTERM) && isCaught(SIGINT) && isCaught(SIGHUP))
        first.cancel()
        #expect(isCaught(SIGTERM))
        second.cancel()
        second.cancel()
        #expect(!isCaught(SIGTERM) && !isCaught(SIGINT) && !isCaught(SIGHUP))
    }
}

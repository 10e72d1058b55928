@testable import BinaryCache
import Testing

/// The AIMD limit on requests in flight, driven with made-up instants: no I/O, no sleeping.
@Suite struct AdaptiveConcurrencyLimitTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test func startsAtTheCeilingAndNeverGrowsPastIt() {
        var limit = AdaptiveConcurrencyLimit(ceiling: 8)
        #expect(limit.current == 8)
        for index in 0..<100 { #expect(limit.completed(now: at(index)) == nil) }
        #expect(limit.current == 8)
    }

    @Test func aThrottlingAnswerHalvesTheLimitDownToOne() {
        var limit = AdaptiveConcurrencyLimit(ceiling: 8)
        #expect(limit.throttled(sent: at(0), now: at(10)) == .decreased(from: 8, to: 4))
        #expect(limit.throttled(sent: at(20), now: at(30)) == .decreased(from: 4, to: 2))
        #expect(limit.throttled(sent: at(40), now: at(50)) == .decreased(from: 2, to: 1))
        #expect(limit.throttled(sent: at(60), now: at(70)) == nil)
        #expect(limit.current == 1)
    }

    /// A burst of answers to requests all sent under the old limit cuts it once, not once each.
    @Test func answersToRequestsSentBeforeTheCutDoNotCutAgain() {
        var limit = AdaptiveConcurrencyLimit(ceiling: 16)
        #expect(limit.throttled(sent: at(0), now: at(100)) == .decreased(from: 16, to: 8))
        for sent in [1, 50, 99] { #expect(limit.throttled(sent: at(sent), now: at(110)) == nil) }
        #expect(limit.current == 8)
        // A request sent after the cut, throttled too: the new limit is still too high.
        #expect(limit.throttled(sent: at(120), now: at(200)) == .decreased(from: 8, to: 4))
    }

    /// Once throttling stops for the quiet period, each round of `current` completions adds one.
    @Test func theLimitGrowsBackByOnePerRoundOnceThrottlingStops() {
        var limit = AdaptiveConcurrencyLimit(ceiling: 4, quietPeriod: .seconds(1))
        _ = limit.throttled(sent: at(0), now: at(0))
        _ = limit.throttled(sent: at(1), now: at(1))
        #expect(limit.current == 1)
        // Within the quiet period nothing grows, however many requests complete.
        for index in 2..<50 { #expect(limit.completed(now: at(index)) == nil) }
        #expect(limit.current == 1)
        var changes: [AdaptiveConcurrencyLimit.Change] = []
        for index in 0..<20 {
            if let change = limit.completed(now: at(1001 + index)) { changes.append(change) }
        }
        // 1 completion to reach 2, 2 to reach 3, 3 to reach 4: six in all; then it holds.
        #expect(changes == [.increased(from: 1, to: 2), .increased(from: 2, to: 3), .increased(from: 3, to: 4)])
        #expect(limit.current == 4)
    }

    @Test func aThrottlingAnswerRestartsTheQuietPeriod() {
        var limit = AdaptiveConcurrencyLimit(ceiling: 8, quietPeriod: .seconds(1))
        _ = limit.throttled(sent: at(0), now: at(0))
        #expect(limit.current == 4)
        // Throttled again (by a request of the old round: no cut) at 900 ms.
        #expect(limit.throttled(sent: at(-5), now: at(900)) == nil)
        for index in 0..<10 { #expect(limit.completed(now: at(1000 + index)) == nil) }
        for index in 0..<4 { _ = limit.completed(now: at(1900 + index)) }
        #expect(limit.current == 5)
    }

    @Test func aCeilingOfOneStaysOne() {
        var limit = AdaptiveConcurrencyLimit(ceiling: 0)
        #expect(limit.current == 1)
        #expect(limit.throttled(sent: at(0), now: at(1)) == nil)
        #expect(limit.completed(now: at(5000)) == nil)
    }

    @Test func whichAnswersAskForFewerRequests() {
        let error = { (code: String) in Array("<Error><Code>\(code)</Code><Message>m</Message></Error>".utf8) }
        #expect(RequestRetryPolicy.isThrottling(status: 503, body: error("SlowDown")))
        #expect(RequestRetryPolicy.isThrottling(status: 429, body: []))
        #expect(RequestRetryPolicy.isThrottling(status: 400, body: error("Throttling")))
        // A throttled HEAD has no body to say so.
        #expect(RequestRetryPolicy.isThrottling(status: 503, body: []))
        #expect(!RequestRetryPolicy.isThrottling(status: 503, body: error("ServiceUnavailable")))
        #expect(!RequestRetryPolicy.isThrottling(status: 500, body: error("InternalError")))
        #expect(!RequestRetryPolicy.isThrottling(status: 400, body: error("InvalidArgument")))
    }
}

import Testing
@testable import Replication

@Suite struct WakeDebouncerTests {
    let start = ContinuousClock.now
    let timing = WatchTiming(debounceWindow: .milliseconds(100), maximumDelay: .seconds(1), recheckInterval: .seconds(30), commitSettle: .zero)

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    /// A debouncer in a storm: an event 50 ms before `start` has already woken it, so events
    /// from `start` on are less than the window apart and batched.
    func debouncerInAStorm() -> WakeDebouncer {
        var debouncer = WakeDebouncer(timing: timing, now: at(-50))
        debouncer.record(.changed, at: at(-50))
        _ = debouncer.wake(at: at(-50))
        return debouncer
    }

    @Test func theFirstEventAfterAQuietSpellWakesAtOnce() {
        var debouncer = WakeDebouncer(timing: timing, now: start)
        debouncer.record(.changed, at: at(10))
        #expect(debouncer.deadline == at(10))
        #expect(debouncer.wake(at: at(10)) == .changed)
        #expect(debouncer.wake(at: at(11)) == nil)
        // Long after that wake and its event, the next event wakes at once too.
        debouncer.record(.changed, at: at(500))
        #expect(debouncer.wake(at: at(500)) == .changed)
    }

    @Test func theRestOfACommitWithinTheSettleJoinsItsWake() {
        var settling = timing
        settling.commitSettle = .milliseconds(2)
        var debouncer = WakeDebouncer(timing: settling, now: start)
        debouncer.record(.changed, at: at(10))
        #expect(debouncer.deadline == at(12))
        debouncer.record(.changed, at: at(11))
        #expect(debouncer.wake(at: at(11)) == nil)
        #expect(debouncer.wake(at: at(12)) == .changed)
        // Nothing left over for a second wake.
        #expect(debouncer.deadline == at(12 + 30_000))
    }

    @Test func eventsReadWithTheFirstMergeIntoItsWake() {
        var debouncer = WakeDebouncer(timing: timing, now: start)
        debouncer.record(.changed, at: at(0))
        debouncer.record(.overflow, at: at(0))
        #expect(debouncer.wake(at: at(0)) == .overflow)
        #expect(debouncer.wake(at: at(1)) == nil)
    }

    @Test func commitsFurtherApartThanTheWindowEachWakeAtOnce() {
        // One commit every 150 ms (window 100 ms), each a burst of three writes within 1 ms: the
        // first write wakes at once; the burst's rest is a small storm, flushed a window later.
        var debouncer = WakeDebouncer(timing: timing, now: start)
        var wakeTimes: [Int] = []
        for commit in stride(from: 0, to: 600, by: 150) {
            debouncer.record(.changed, at: at(commit))
            if debouncer.wake(at: at(commit)) != nil { wakeTimes.append(commit) }
            debouncer.record(.changed, at: at(commit + 1))
            if let due = debouncer.wake(at: at(commit + 101)) {
                #expect(due == .changed)
                wakeTimes.append(commit + 101)
            }
        }
        #expect(wakeTimes == [0, 101, 150, 251, 300, 401, 450, 551])
    }

    @Test func aStormWakesOnceAtItsStartAndOnceAfterIt() {
        var debouncer = WakeDebouncer(timing: timing, now: start)
        var wakeTimes: [Int] = []
        // An event every 10 ms for 300 ms, then quiet.
        for time in stride(from: 0, through: 600, by: 10) {
            if time <= 300 { debouncer.record(.changed, at: at(time)) }
            if debouncer.wake(at: at(time)) != nil { wakeTimes.append(time) }
        }
        #expect(wakeTimes == [0, 400])
    }

    @Test func anEventWakesOnceTheWindowIsQuiet() {
        var debouncer = debouncerInAStorm()
        debouncer.record(.changed, at: at(10))
        #expect(debouncer.deadline == at(110))
        #expect(debouncer.wake(at: at(109)) == nil)
        #expect(debouncer.wake(at: at(110)) == .changed)
        #expect(debouncer.wake(at: at(111)) == nil)
    }

    @Test func eventsInsideTheWindowMergeIntoOneWake() {
        var debouncer = debouncerInAStorm()
        var wakes: [WakeReason] = []
        for time in stride(from: 0, through: 400, by: 20) {
            if let wake = debouncer.wake(at: at(time)) { wakes.append(wake) }
            debouncer.record(.changed, at: at(time))
        }
        #expect(wakes.isEmpty)
        #expect(debouncer.wake(at: at(500)) == .changed)
    }

    @Test func aContinuousStormStillFlushesAtTheCap() {
        var debouncer = debouncerInAStorm()
        var wakeTimes: [Int] = []
        // An event every 50 ms for 3.5 s: the window never goes quiet.
        for time in stride(from: 0, to: 3500, by: 50) {
            if debouncer.wake(at: at(time)) != nil { wakeTimes.append(time) }
            debouncer.record(.changed, at: at(time))
        }
        #expect(wakeTimes == [1000, 2000, 3000])
    }

    @Test func anOverflowIsNotHiddenByOtherEvents() {
        var debouncer = WakeDebouncer(timing: timing, now: start)
        debouncer.record(.changed, at: at(0))
        debouncer.record(.overflow, at: at(10))
        debouncer.record(.changed, at: at(20))
        #expect(debouncer.wake(at: at(120)) == .overflow)
        // The next window starts clean.
        debouncer.record(.changed, at: at(200))
        #expect(debouncer.wake(at: at(300)) == .changed)
    }

    @Test func idleWakesComeEveryRecheckIntervalAfterTheLastWake() {
        var debouncer = WakeDebouncer(timing: timing, now: start)
        #expect(debouncer.deadline == at(30_000))
        #expect(debouncer.wake(at: at(29_999)) == nil)
        #expect(debouncer.wake(at: at(30_000)) == .periodic)
        #expect(debouncer.deadline == at(60_000))
        // A change resets the re-check: it is due a full interval after the change's wake.
        debouncer.record(.changed, at: at(40_000))
        #expect(debouncer.wake(at: at(40_100)) == .changed)
        #expect(debouncer.deadline == at(70_100))
    }

    @Test func thePendingStrongerWakeSurvivesABufferOfOne() async {
        let (stream, continuation) = AsyncStream.makeStream(of: WakeReason.self, bufferingPolicy: .bufferingNewest(1))
        continuation.yieldKeepingStrongest(.overflow)
        continuation.yieldKeepingStrongest(.changed)
        continuation.yieldKeepingStrongest(.periodic)
        var iterator = stream.makeAsyncIterator()
        #expect(await iterator.next() == .overflow)
        continuation.yieldKeepingStrongest(.periodic)
        continuation.yieldKeepingStrongest(.changed)
        continuation.finish()
        #expect(await iterator.next() == .changed)
        #expect(await iterator.next() == nil)
    }
}

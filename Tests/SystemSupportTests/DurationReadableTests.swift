import SystemSupport
import Testing

/// Durations in log lines, as a person reads them.
@Suite struct DurationReadableTests {
    @Test func eachMagnitudeInItsUnit() {
        #expect(Duration.nanoseconds(18_561_350).readable == "19 ms")
        #expect(Duration.milliseconds(1600).readable == "1.6 s")
        #expect(Duration.seconds(30).readable == "30 s")
        #expect(Duration.milliseconds(999).readable == "999 ms")
        #expect(Duration.milliseconds(999_600).readable == "17 min")
        #expect(Duration.milliseconds(9_960).readable == "10 s")
        #expect(Duration.seconds(150).readable == "2.5 min")
        #expect(Duration.seconds(24 * 3600).readable == "24 h")
        #expect(Duration.zero.readable == "0 ms")
    }
}

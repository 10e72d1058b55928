import Testing
import TOML

/// Integers, floats, booleans, dates and times.
@Suite struct ScalarTests {
    @Test func integersInEveryBase() throws {
        let expected: [(String, Int64)] = [
            ("+99", 99), ("-17", -17), ("0", 0), ("-0", 0), ("1_000", 1000), ("0xDEAD_beef", 0xDEADBEEF), ("0o755", 0o755),
            ("0b1101_0110", 0b11010110), ("9223372036854775807", .max), ("-9223372036854775808", .min),
            ("0x7FFFFFFFFFFFFFFF", .max),
        ]
        for (literal, integer) in expected {
            #expect(try value(literal) == .integer(integer), "\(literal)")
        }
    }

    @Test func integersBeyond64BitsAreRefused() {
        for literal in ["9223372036854775808", "-9223372036854775809", "0x8000000000000000", "0o1777777777777777777777",
                        "99999999999999999999999"] {
            expectRefused("[t]\ni = \(literal)", line: 2, "does not fit in 64 bits")
        }
    }

    @Test func malformedNumbersAreRefused() {
        for literal in ["01", "1__2", "1_", "+0x1", "0X1", "0x", "1.", "1e", "1.e1", "00.1", "1e_1", "0b2", "0o8"] {
            expectRefused("i = \(literal)", line: 1, "is not a valid number")
        }
        for literal in ["True", "_1", ".1", "yes"] {
            expectRefused("b = \(literal)", line: 1, "is not a value; a string is quoted: \"\(literal)\"")
        }
    }

    @Test func floatsIncludingInfinityAndNaN() throws {
        let expected: [(String, Double)] = [
            ("+1.0", 1), ("3.1415", 3.1415), ("-0.01", -0.01), ("5e+22", 5e22), ("1e06", 1e6), ("-2E-2", -0.02),
            ("224_617.445_991_228", 224617.445991228), ("inf", .infinity), ("-inf", -.infinity), ("1e400", .infinity),
        ]
        for (literal, float) in expected {
            #expect(try value(literal) == .float(float), "\(literal)")
        }
        #expect(try value("nan")?.float?.isNaN == true)
        #expect(try value("-nan")?.float?.isNaN == true)
        #expect(try value("-0.0")?.float?.sign == .minus)
        #expect(try value("true") == .boolean(true))
        #expect(try value("false") == .boolean(false))
    }

    @Test func datesAndTimesAreValuesOfTheirOwnKinds() throws {
        let date = TOMLDate(year: 1979, month: 5, day: 27)
        #expect(try value("1979-05-27T07:32:00Z") == .offsetDateTime(date, TOMLTime(hour: 7, minute: 32, second: 0), offsetMinutes: 0))
        #expect(try value("1979-05-27 00:32:00.999999-07:00")
                == .offsetDateTime(date, TOMLTime(hour: 0, minute: 32, second: 0, nanosecond: 999_999_000), offsetMinutes: -420))
        #expect(try value("1979-05-27t07:32:00+05:30") == .offsetDateTime(date, TOMLTime(hour: 7, minute: 32, second: 0), offsetMinutes: 330))
        #expect(try value("1979-05-27T07:32:00.1234567891") == .localDateTime(date, TOMLTime(hour: 7, minute: 32, second: 0, nanosecond: 123_456_789)))
        #expect(try value("1979-05-27") == .localDate(date))
        #expect(try value("2024-02-29") == .localDate(TOMLDate(year: 2024, month: 2, day: 29)))
        #expect(try value("0000-01-01") == .localDate(TOMLDate(year: 0, month: 1, day: 1)))
        #expect(try value("07:32:00.5") == .localTime(TOMLTime(hour: 7, minute: 32, second: 0, nanosecond: 500_000_000)))
        #expect(try value("07:32:00")?.typeName == "local time")
        #expect(try parse("d = 1979-05-27 # comment")["d"] == .localDate(date))
    }

    @Test func impossibleDatesAndTimesAreRefused() {
        for literal in ["2023-02-29", "1900-02-29", "1979-04-31", "1979-13-01", "1979-05-27T24:00:00", "07:60:00", "07:32:60",
                        "07:32", "1979-05-27T07:32", "1979-05-27T07:32:00+7:00", "1979-05-27T07:32:00.", "07:32:00Z", "3958-05-27TEE"] {
            expectRefused("d = \(literal)", line: 1, "is not a valid date or time")
        }
    }
}

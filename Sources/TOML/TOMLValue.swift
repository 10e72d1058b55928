/// A value of a TOML document: one of TOML 1.0's types.
public enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    /// `1979-05-27T07:32:00-07:00`: a moment, with its offset from UTC in minutes.
    case offsetDateTime(TOMLDate, TOMLTime, offsetMinutes: Int)
    /// `1979-05-27T07:32:00`: a date and time in no particular zone.
    case localDateTime(TOMLDate, TOMLTime)
    case localDate(TOMLDate)
    case localTime(TOMLTime)
    /// An array (`[1, "a"]`, or the tables of `[[name]]` headers); TOML 1.0 allows mixed types.
    case array([TOMLValue])
    /// A table: `[name]`, `{ inline = true }`, or one made by dotted keys.
    case table(TOMLTable)

    /// The type's name as messages give it: "string", "integer", "local date", ...
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .offsetDateTime: "offset date-time"
        case .localDateTime: "local date-time"
        case .localDate: "local date"
        case .localTime: "local time"
        case .array: "array"
        case .table: "table"
        }
    }

    public var string: String? { if case .string(let value) = self { value } else { nil } }
    public var integer: Int64? { if case .integer(let value) = self { value } else { nil } }
    public var float: Double? { if case .float(let value) = self { value } else { nil } }
    public var boolean: Bool? { if case .boolean(let value) = self { value } else { nil } }
    public var array: [TOMLValue]? { if case .array(let value) = self { value } else { nil } }
    public var table: TOMLTable? { if case .table(let value) = self { value } else { nil } }

    /// Whether this is one of the four date and time types.
    public var isDateOrTime: Bool {
        switch self {
        case .offsetDateTime, .localDateTime, .localDate, .localTime: true
        default: false
        }
    }
}

/// A calendar date of a TOML date or date-time, checked to exist (2024-02-29 does, 2023-02-29 not).
public struct TOMLDate: Sendable, Equatable, Hashable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        (self.year, self.month, self.day) = (year, month, day)
    }
}

/// A time of day of a TOML time or date-time. Digits of the fraction beyond nanoseconds are
/// dropped, as the specification allows.
public struct TOMLTime: Sendable, Equatable, Hashable {
    public var hour: Int
    public var minute: Int
    public var second: Int
    public var nanosecond: Int

    public init(hour: Int, minute: Int, second: Int, nanosecond: Int = 0) {
        (self.hour, self.minute, self.second, self.nanosecond) = (hour, minute, second, nanosecond)
    }
}

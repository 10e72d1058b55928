/// An age as Nix's `--delete-older-than` writes it (`30d`), plus hours, minutes and seconds:
/// `12h`, `90m`, `45s`.
public struct AgeDuration: Sendable, Equatable, CustomStringConvertible {
    public let seconds: Int
    public let text: String

    public init(parsing text: String) throws {
        guard let unit = text.last, let count = Int(text.dropLast()), count >= 0 else { throw AgeDurationError(text: text) }
        let unitSeconds: Int
        switch unit {
        case "d": unitSeconds = 86_400
        case "h": unitSeconds = 3_600
        case "m": unitSeconds = 60
        case "s": unitSeconds = 1
        default: throw AgeDurationError(text: text)
        }
        let (product, overflow) = count.multipliedReportingOverflow(by: unitSeconds)
        guard !overflow else { throw AgeDurationError(text: text) }
        seconds = product
        self.text = text
    }

    public var duration: Duration { .seconds(seconds) }
    public var description: String { text }
}

public struct AgeDurationError: Error, CustomStringConvertible {
    public var text: String
    public var description: String { "'\(text)' is not an age: write a number and d, h, m or s, e.g. 30d, 12h or 90m" }
}

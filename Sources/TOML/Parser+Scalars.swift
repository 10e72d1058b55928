/// Integers, floats, booleans, dates and times: each one word of `[A-Za-z0-9_+-.:]` (a date
/// and a time may be joined by a space), read whole and then checked against TOML's grammar,
/// so that `1979-05-27T07:3` or `0x` is refused as the word it is.
extension Parser {
    mutating func parseScalar() throws(TOMLError) -> TOMLValue {
        let start = position
        scanWord()
        // `1979-05-27 07:32:00`: the space joins a date and a time.
        if position - start == 10, Self.looksLikeDate(bytes[start..<position]), peek() == UInt8(ascii: " "),
           Self.isDigit(peek(1)), Self.isDigit(peek(2)), peek(3) == UInt8(ascii: ":") {
            position += 1
            scanWord()
        }
        let word = bytes[start..<position]
        guard !word.isEmpty else {
            throw error("expected a value (a string, number, true, false, date, time, array or inline table), found \(found())")
        }
        let text = String(decoding: word, as: UTF8.self)
        switch text {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan": return .float(.nan)
        case "-nan": return .float(-Double.nan)
        default: break
        }
        if Self.looksLikeDate(word) || (word.count >= 3 && word[word.startIndex + 2] == UInt8(ascii: ":")) {
            var reader = DateTimeReader(word)
            guard let value = reader.read() else {
                throw error("'\(text)' is not a valid date or time; TOML writes them 1979-05-27, 07:32:00, 1979-05-27T07:32:00 or 1979-05-27T07:32:00Z", at: start)
            }
            return value
        }
        if let first = word.first, !Self.isDigit(first), first != UInt8(ascii: "+"), first != UInt8(ascii: "-") {
            throw error("'\(text)' is not a value; a string is quoted: \"\(text)\"", at: start)
        }
        switch NumberReader.read(word) {
        case .integer(let value): return .integer(value)
        case .float(let value): return .float(value)
        case .overflow: throw error("the integer \(text) does not fit in 64 bits", at: start)
        case .invalid:
            throw error("'\(text)' is not a valid number; TOML writes them 42, -17, 1_000, 0xff, 0o17, 0b101, 3.14, 6e-3, inf or nan", at: start)
        }
    }

    private mutating func scanWord() {
        while position < bytes.count, Self.isWordByte(bytes[position]) { position += 1 }
    }

    static func isWordByte(_ byte: UInt8) -> Bool {
        isBareKeyByte(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// Four digits and a '-': what no number starts with.
    static func looksLikeDate(_ word: ArraySlice<UInt8>) -> Bool {
        word.count >= 5 && word.prefix(4).allSatisfy(isDigit) && word[word.startIndex + 4] == UInt8(ascii: "-")
    }
}

/// TOML's integers and floats, checked digit by digit.
enum NumberReader {
    enum Result {
        case integer(Int64)
        case float(Double)
        case overflow
        case invalid
    }

    static func read(_ word: ArraySlice<UInt8>) -> Result {
        var rest = word
        let sign = rest.first == UInt8(ascii: "-") || rest.first == UInt8(ascii: "+") ? rest.popFirst() : nil
        if rest.count > 2, rest.first == UInt8(ascii: "0") {
            let radix: UInt64? = switch rest[rest.startIndex + 1] {
            case UInt8(ascii: "x"): 16
            case UInt8(ascii: "o"): 8
            case UInt8(ascii: "b"): 2
            default: nil
            }
            if let radix {
                // Only decimal integers take a sign.
                guard sign == nil else { return .invalid }
                return integer(rest.dropFirst(2), radix: radix, negative: false)
            }
        }
        let exponentStart = rest.firstIndex { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        let fractionStart = rest.firstIndex(of: UInt8(ascii: "."))
        let integerPart = rest[..<(fractionStart ?? exponentStart ?? rest.endIndex)]
        guard isDigitRun(integerPart, radix: 10), integerPart.first != UInt8(ascii: "0") || integerPart.count == 1 else {
            return .invalid
        }
        if fractionStart == nil && exponentStart == nil {
            return integer(integerPart, radix: 10, negative: sign == UInt8(ascii: "-"))
        }
        if let fractionStart {
            guard exponentStart.map({ $0 > fractionStart }) ?? true,
                  isDigitRun(rest[(fractionStart + 1)..<(exponentStart ?? rest.endIndex)], radix: 10) else { return .invalid }
        }
        if let exponentStart {
            var exponent = rest[(exponentStart + 1)...]
            if exponent.first == UInt8(ascii: "+") || exponent.first == UInt8(ascii: "-") { exponent.removeFirst() }
            guard isDigitRun(exponent, radix: 10) else { return .invalid }
        }
        let digits = String(decoding: word.filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
        // Correctly rounded; beyond the range of a Double, an infinity (as Python's tomllib reads it).
        guard let value = Double(digits) else { return .invalid }
        return .float(value)
    }

    /// Digits of `radix`, each `_` between two of them.
    static func isDigitRun(_ digits: ArraySlice<UInt8>, radix: UInt64) -> Bool {
        guard let first = digits.first, let last = digits.last, first != UInt8(ascii: "_"), last != UInt8(ascii: "_") else {
            return false
        }
        var previous: UInt8 = 0
        for byte in digits {
            if byte == UInt8(ascii: "_") {
                if previous == UInt8(ascii: "_") { return false }
            } else if !(Parser.hexDigit(byte).map { UInt64($0) < radix } ?? false) {
                return false
            }
            previous = byte
        }
        return true
    }

    private static func integer(_ digits: ArraySlice<UInt8>, radix: UInt64, negative: Bool) -> Result {
        guard isDigitRun(digits, radix: radix) else { return .invalid }
        var magnitude: UInt64 = 0
        for byte in digits where byte != UInt8(ascii: "_") {
            let (shifted, overflow) = magnitude.multipliedReportingOverflow(by: radix)
            let (sum, carry) = shifted.addingReportingOverflow(UInt64(Parser.hexDigit(byte)!))
            if overflow || carry { return .overflow }
            magnitude = sum
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return .overflow }
            return .integer(magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude))
        }
        guard magnitude <= UInt64(Int64.max) else { return .overflow }
        return .integer(Int64(magnitude))
    }
}

/// RFC 3339 dates and times as TOML 1.0 has them: `1979-05-27`, `07:32:00.999`,
/// `1979-05-27T07:32:00`, `1979-05-27 07:32:00-07:00`, each field in its range.
struct DateTimeReader {
    private let bytes: ArraySlice<UInt8>
    private var position: Int

    init(_ word: ArraySlice<UInt8>) {
        bytes = word
        position = word.startIndex
    }

    mutating func read() -> TOMLValue? {
        if bytes.count > 2, bytes[bytes.startIndex + 2] == UInt8(ascii: ":") {
            guard let time = readTime(), position == bytes.endIndex else { return nil }
            return .localTime(time)
        }
        guard let date = readDate() else { return nil }
        if position == bytes.endIndex { return .localDate(date) }
        guard [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(bytes[position]) else { return nil }
        position += 1
        guard let time = readTime() else { return nil }
        if position == bytes.endIndex { return .localDateTime(date, time) }
        var offset = 0
        if bytes[position] == UInt8(ascii: "Z") || bytes[position] == UInt8(ascii: "z") {
            position += 1
        } else {
            let sign = bytes[position]
            guard sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") else { return nil }
            position += 1
            guard let hours = number(2, in: 0...23), separator(":"), let minutes = number(2, in: 0...59) else { return nil }
            offset = (hours * 60 + minutes) * (sign == UInt8(ascii: "-") ? -1 : 1)
        }
        guard position == bytes.endIndex else { return nil }
        return .offsetDateTime(date, time, offsetMinutes: offset)
    }

    private mutating func readDate() -> TOMLDate? {
        guard let year = number(4, in: 0...9999), separator("-"), let month = number(2, in: 1...12), separator("-"),
              let day = number(2, in: 1...Self.days(inMonth: month, of: year)) else { return nil }
        return TOMLDate(year: year, month: month, day: day)
    }

    /// Seconds up to 59: a leap second's 60 is refused, as Python's tomllib refuses it.
    private mutating func readTime() -> TOMLTime? {
        guard let hour = number(2, in: 0...23), separator(":"), let minute = number(2, in: 0...59), separator(":"),
              let second = number(2, in: 0...59) else { return nil }
        var nanosecond = 0
        if position < bytes.endIndex, bytes[position] == UInt8(ascii: ".") {
            position += 1
            let digits = bytes[position...].prefix(while: Parser.isDigit)
            guard !digits.isEmpty else { return nil }
            for (index, digit) in digits.prefix(9).enumerated() {
                nanosecond += Int(digit - UInt8(ascii: "0")) * Self.powersOfTen[8 - index]
            }
            position += digits.count
        }
        return TOMLTime(hour: hour, minute: minute, second: second, nanosecond: nanosecond)
    }

    private static let powersOfTen = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000]

    private mutating func number(_ digits: Int, in range: ClosedRange<Int>) -> Int? {
        guard bytes.endIndex - position >= digits else { return nil }
        var value = 0
        for byte in bytes[position..<position + digits] {
            guard Parser.isDigit(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        position += digits
        return range.contains(value) ? value : nil
    }

    private mutating func separator(_ character: Unicode.Scalar) -> Bool {
        guard position < bytes.endIndex, bytes[position] == UInt8(ascii: character) else { return false }
        position += 1
        return true
    }

    static func days(inMonth month: Int, of year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

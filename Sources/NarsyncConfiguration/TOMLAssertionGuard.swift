/// Refuses the malformed TOML on which toml++ (as TOMLKit 0.6.0 bundles it) fails an assertion
/// instead of reporting an error, which aborts narsync; both were found by `fuzz/run config`.
///
/// - A table header whose name does not start with a key character or a quote (`[[` at the
///   end of a line, `[ #x]`). Line by line: a line of a multi-line string or array that looks
///   like such a header is refused too; narsync's settings have neither.
/// - A `}` where an array expects a value (`[}`, `[1, }`), found by a light scan that skips
///   strings and comments.
/// - A date or time (`1979-05-27T0`, whose malformed forms assert): no setting takes one, so
///   any bare word outside strings and comments that starts with a digit and holds a `:`, or
///   four digits and a `-`, is refused before toml++ sees it.
enum TOMLAssertionGuard {
    static func check(_ text: String, path: String) throws {
        let bytes = Array(text.utf8)
        if let line = unnamedTableHeader(bytes) {
            throw ConfigurationError(.file(path, line: line), "not valid TOML: a table header must name its table, as in [store] or [[destination]]")
        }
        if let (line, reason) = firstUnsafeToken(bytes) {
            throw ConfigurationError(.file(path, line: line), reason)
        }
    }

    /// The 1-based line of the first header without a name.
    private static func unnamedTableHeader(_ bytes: [UInt8]) -> Int? {
        for (index, line) in bytes.split(separator: newline, omittingEmptySubsequences: false).enumerated() {
            var rest = line.drop(while: isBlank)
            guard rest.first == UInt8(ascii: "[") else { continue }
            rest = rest.dropFirst().drop(while: isBlank)
            if rest.first == UInt8(ascii: "[") { rest = rest.dropFirst().drop(while: isBlank) }
            if let first = rest.first, isKeyStart(first) { continue }
            return index + 1
        }
        return nil
    }

    /// The 1-based line and the reason of the first `}` right after a `[` or `,` (blanks and
    /// comments aside), or of the first date or time.
    private static func firstUnsafeToken(_ bytes: [UInt8]) -> (Int, String)? {
        var line = 1
        var previous: UInt8 = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case newline:
                line += 1
            case UInt8(ascii: "#"):
                while index + 1 < bytes.count, bytes[index + 1] != newline { index += 1 }
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                index = endOfString(bytes, at: index, line: &line)
                previous = byte
                continue
            case UInt8(ascii: "}") where previous == UInt8(ascii: "[") || previous == UInt8(ascii: ","):
                return (line, "not valid TOML: '}' where an array expects a value or ']'")
            case UInt8(ascii: "0")...UInt8(ascii: "9") where !isWordByte(previous):
                let word = bytes[index...].prefix(while: isWordByte)
                let isDate = word.count > 4 && word.prefix(4).allSatisfy(isDigit) && word[word.startIndex + 4] == UInt8(ascii: "-")
                if isDate || word.contains(UInt8(ascii: ":")) {
                    return (line, "a date or time is not a value of any setting; quote it if it is meant as text")
                }
                index += word.count
                previous = word.last!
                continue
            default:
                if !isBlank(byte) && byte != UInt8(ascii: "\r") { previous = byte }
            }
            index += 1
        }
        return nil
    }

    /// The index after the string starting at `start`, counting the lines it spans.
    private static func endOfString(_ bytes: [UInt8], at start: Int, line: inout Int) -> Int {
        let quote = bytes[start]
        let isTriple = start + 2 < bytes.count && bytes[start + 1] == quote && bytes[start + 2] == quote
        var index = start + (isTriple ? 3 : 1)
        while index < bytes.count {
            let byte = bytes[index]
            if byte == newline {
                line += 1
                if !isTriple { return index }
            } else if byte == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") {
                if index + 1 < bytes.count, bytes[index + 1] == newline { line += 1 }
                index += 1
            } else if byte == quote {
                guard isTriple else { return index + 1 }
                if index + 2 < bytes.count, bytes[index + 1] == quote, bytes[index + 2] == quote {
                    index += 3
                    // Up to two more quotes belong to the string: """a""""" ends with `a""`.
                    var extra = 0
                    while extra < 2, index < bytes.count, bytes[index] == quote {
                        index += 1
                        extra += 1
                    }
                    return index
                }
            }
            index += 1
        }
        return index
    }

    private static let newline = UInt8(ascii: "\n")

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// Bytes of bare keys, numbers, dates and times.
    private static func isWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: ":"):
            true
        default: false
        }
    }

    private static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

    private static func isKeyStart(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"),
             UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "]"):
            true
        default: false
        }
    }
}

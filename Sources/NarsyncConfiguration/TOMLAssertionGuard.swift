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
        // Scalars, not bytes: toml++ takes non-ASCII spaces (and a byte order mark) for blanks.
        let scalars = Array(text.unicodeScalars)
        if let line = unnamedTableHeader(scalars) {
            throw ConfigurationError(.file(path, line: line), "not valid TOML: a table header must name its table, as in [store] or [[destination]]")
        }
        if let (line, reason) = firstUnsafeToken(scalars) {
            throw ConfigurationError(.file(path, line: line), reason)
        }
    }

    /// The 1-based line of the first header without a name.
    private static func unnamedTableHeader(_ scalars: [Unicode.Scalar]) -> Int? {
        var line = 1
        var atLineStart = true
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            if scalar == "\n" || isLineBreak(scalar) {
                if scalar == "\n" { line += 1 }
                atLineStart = true
                continue
            }
            if isBlank(scalar) { continue }
            defer { atLineStart = false }
            guard atLineStart, scalar == "[" else { continue }
            var next = index
            while next < scalars.count, isBlank(scalars[next]) { next += 1 }
            if next < scalars.count, scalars[next] == "[" {
                next += 1
                while next < scalars.count, isBlank(scalars[next]) { next += 1 }
            }
            if next < scalars.count, isKeyStart(scalars[next]) { continue }
            return line
        }
        return nil
    }

    /// The 1-based line and the reason of the first `}` right after a `[` or `,` (blanks and
    /// comments aside), or of the first date or time.
    private static func firstUnsafeToken(_ bytes: [Unicode.Scalar]) -> (Int, String)? {
        var line = 1
        var previous: Unicode.Scalar = "\0"
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case newline:
                line += 1
            case "#":
                while index + 1 < bytes.count, bytes[index + 1] != newline { index += 1 }
            case "\"", "'":
                index = endOfString(bytes, at: index, line: &line)
                previous = byte
                continue
            case "}" where previous == "[" || previous == ",":
                return (line, "not valid TOML: '}' where an array expects a value or ']'")
            case "0"..."9" where !isWordByte(previous):
                let word = bytes[index...].prefix(while: isWordByte)
                let isDate = word.count > 4 && word.prefix(4).allSatisfy(isDigit) && word[word.startIndex + 4] == "-"
                if isDate || word.contains(":") {
                    return (line, "a date or time is not a value of any setting; quote it if it is meant as text")
                }
                index += word.count
                previous = word.last!
                continue
            default:
                if !isBlank(byte) && byte != "\r" && !isLineBreak(byte) { previous = byte }
            }
            index += 1
        }
        return nil
    }

    /// The index after the string starting at `start`, counting the lines it spans.
    private static func endOfString(_ bytes: [Unicode.Scalar], at start: Int, line: inout Int) -> Int {
        let quote = bytes[start]
        let isTriple = start + 2 < bytes.count && bytes[start + 1] == quote && bytes[start + 2] == quote
        var index = start + (isTriple ? 3 : 1)
        while index < bytes.count {
            let byte = bytes[index]
            if byte == newline {
                // An unclosed one-line string ends here; the caller counts the line.
                if !isTriple { return index }
                line += 1
            } else if byte == "\\" && quote == "\"" {
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

    private static let newline: Unicode.Scalar = "\n"

    /// What toml++ skips as a blank: space, tab, other Unicode spaces and the byte order mark.
    private static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\u{FEFF}"
            || (scalar.value >= 0x80 && scalar.properties.isWhitespace && !isLineBreak(scalar))
    }

    /// Line breaks toml++ knows besides "\n" (which alone counts lines).
    private static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        ["\u{0B}", "\u{0C}", "\u{85}", "\u{2028}", "\u{2029}"].contains(scalar)
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }

    /// Scalars of bare keys, numbers, dates and times.
    private static func isWordByte(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", "_", "-", "+", ".", ":": true
        default: false
        }
    }

    private static func isKeyStart(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", "_", "-", "\"", "'", "]": true
        default: false
        }
    }
}

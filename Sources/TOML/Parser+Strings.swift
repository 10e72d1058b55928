/// The four kinds of string: "basic" with escapes, 'literal' without, and both multi-line.
extension Parser {
    /// `"..."` on one line, escapes decoded.
    mutating func parseBasicString() throws(TOMLError) -> String {
        position += 1
        var content: [UInt8] = []
        while true {
            guard !isAtEnd, !isAtNewline else {
                throw error("expected '\"' to end the string, found \(found()) (a string with newlines is written \"\"\"...\"\"\")")
            }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return String(decoding: content, as: UTF8.self)
            } else if byte == UInt8(ascii: "\\") {
                try appendEscape(to: &content)
            } else {
                try appendStringByte(to: &content)
            }
        }
    }

    /// `'...'` on one line, as written.
    mutating func parseLiteralString() throws(TOMLError) -> String {
        position += 1
        let start = position
        while true {
            guard !isAtEnd, !isAtNewline else {
                throw error("expected \"'\" to end the string, found \(found()) (a string with newlines is written '''...''')")
            }
            if bytes[position] == UInt8(ascii: "'") {
                position += 1
                return String(decoding: bytes[start..<position - 1], as: UTF8.self)
            }
            var unused: [UInt8] = []
            try appendStringByte(to: &unused)
        }
    }

    /// `"""..."""` or `'''...'''`: a newline right after the opening quotes is not part of it;
    /// CRLF is read as LF; up to two quotes right before the closing three belong to it.
    mutating func parseMultilineString() throws(TOMLError) -> String {
        let quote = bytes[position]
        let isBasic = quote == UInt8(ascii: "\"")
        let startLine = line
        position += 3
        if isAtNewline { consumeNewline() }
        var content: [UInt8] = []
        while true {
            guard !isAtEnd else {
                let delimiter = isBasic ? "\"\"\"" : "'''"
                throw error("expected \(delimiter) to end the multi-line string that starts at line \(startLine), found end of file")
            }
            let byte = bytes[position]
            if byte == quote, peek(1) == quote, peek(2) == quote {
                position += 3
                for _ in 0..<2 where peek() == quote && !isAtEnd {
                    content.append(quote)
                    position += 1
                }
                return String(decoding: content, as: UTF8.self)
            } else if isAtNewline {
                consumeNewline()
                content.append(UInt8(ascii: "\n"))
            } else if isBasic, byte == UInt8(ascii: "\\") {
                if Self.isBlank(peek(1)) || peek(1) == UInt8(ascii: "\n") || (peek(1) == UInt8(ascii: "\r") && peek(2) == UInt8(ascii: "\n")) {
                    try skipLineEndingBackslash()
                } else {
                    try appendEscape(to: &content)
                }
            } else {
                try appendStringByte(to: &content)
            }
        }
    }

    /// A `\` at the end of a line of a multi-line basic string: it, the newline and all blanks
    /// and newlines after it are left out.
    private mutating func skipLineEndingBackslash() throws(TOMLError) {
        let backslash = position
        position += 1
        skipWhitespace()
        guard isAtNewline else {
            throw error("a '\\' followed by blanks must end its line, found \(found()) after it", at: backslash)
        }
        while true {
            skipWhitespace()
            guard isAtNewline else { return }
            consumeNewline()
        }
    }

    /// The byte at `position` of a string, refused if a control character.
    private mutating func appendStringByte(to content: inout [UInt8]) throws(TOMLError) {
        let byte = bytes[position]
        if Self.isControl(byte) {
            throw error("\(found()) is a control character, which a string must escape (as \\u\(Self.codePoint(Unicode.Scalar(byte)).dropFirst(2)))")
        }
        content.append(byte)
        position += 1
    }

    /// The escape sequence at `position` (`\n`, `\u00E9`, ...), decoded.
    private mutating func appendEscape(to content: inout [UInt8]) throws(TOMLError) {
        let start = position
        position += 1
        let simple: UInt8? = switch peek() {
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "t"): 0x09
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "\""): UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): UInt8(ascii: "\\")
        default: nil
        }
        if let simple, !isAtEnd {
            content.append(simple)
            position += 1
            return
        }
        let digits = peek() == UInt8(ascii: "u") ? 4 : peek() == UInt8(ascii: "U") ? 8 : 0
        guard digits > 0, !isAtEnd else {
            throw error("\(isAtEnd ? "end of file" : "'\\' before \(found())") is not an escape; the escapes are \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX", at: start)
        }
        position += 1
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard let digit = Self.hexDigit(peek()), !isAtEnd else {
                throw error("expected \(digits) hexadecimal digits after '\\\(digits == 4 ? "u" : "U")', found \(found())")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        guard let scalar = Unicode.Scalar(value) else {
            throw error("'\(String(decoding: bytes[start..<position], as: UTF8.self))' is not a Unicode scalar value (a surrogate or beyond U+10FFFF)", at: start)
        }
        content.append(contentsOf: String(Character(scalar)).utf8)
    }

    static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}

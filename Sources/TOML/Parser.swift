/// Reads TOML 1.0 from the UTF-8 of a String (so valid UTF-8 already): a cursor over its bytes
/// that counts lines. Values nest through recursion bounded by `maximumDepth`, so no text can
/// exhaust the stack.
struct Parser {
    /// How deeply tables and arrays may nest, counting the tables of dotted keys and headers.
    static let maximumDepth = 128

    let bytes: [UInt8]
    var position = 0
    /// 1-based line of `position`.
    var line = 1
    /// Where the line of `position` starts.
    var lineStart = 0

    init(_ text: String) {
        bytes = Array(text.utf8)
    }

    var isAtEnd: Bool { position >= bytes.count }

    /// The byte at `position + offset`, or 0 past the end (NUL is refused wherever it appears).
    func peek(_ offset: Int = 0) -> UInt8 {
        position + offset < bytes.count ? bytes[position + offset] : 0
    }

    // MARK: Errors

    /// An error at `position` (or `at`).
    func error(_ reason: String, at offset: Int? = nil) -> TOMLError {
        let at = min(offset ?? position, bytes.count)
        // Columns count scalars: every byte but UTF-8's continuation bytes starts one.
        let column = bytes[lineStart..<max(at, lineStart)].reduce(1) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        return TOMLError(line: line, column: column, reason: reason)
    }

    /// What is at `position`, for messages: "end of file", "a newline", "'x'", "U+0007".
    func found(at offset: Int? = nil) -> String {
        let at = offset ?? position
        guard at < bytes.count else { return "end of file" }
        let byte = bytes[at]
        switch byte {
        case UInt8(ascii: "\n"): return "a newline"
        case UInt8(ascii: "'"): return "\"'\""
        case 0x21...0x7E: return "'\(Character(Unicode.Scalar(byte)))'"
        case UInt8(ascii: " "): return "a space"
        case UInt8(ascii: "\t"): return "a tab"
        case UInt8(ascii: "\r"): return "U+000D (a carriage return without a line feed after it)"
        default:
            let length = byte < 0x80 ? 1 : byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2
            let scalar = String(decoding: bytes[at..<min(at + length, bytes.count)], as: UTF8.self).unicodeScalars.first!
            return Self.codePoint(scalar)
        }
    }

    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    // MARK: Blanks, newlines and comments

    mutating func skipWhitespace() {
        while position < bytes.count, bytes[position] == UInt8(ascii: " ") || bytes[position] == UInt8(ascii: "\t") {
            position += 1
        }
    }

    /// Whether a newline (LF or CRLF) starts at `position`.
    var isAtNewline: Bool {
        peek() == UInt8(ascii: "\n") || (peek() == UInt8(ascii: "\r") && peek(1) == UInt8(ascii: "\n"))
    }

    /// Steps over the newline at `position`, which `isAtNewline` has seen.
    mutating func consumeNewline() {
        position += bytes[position] == UInt8(ascii: "\r") ? 2 : 1
        line += 1
        lineStart = position
    }

    /// Steps over a comment from its `#` to (not over) the end of its line.
    mutating func skipComment() throws(TOMLError) {
        position += 1
        while !isAtEnd, !isAtNewline {
            if Self.isControl(bytes[position]) {
                throw error("\(found()) is a control character, which a comment cannot hold")
            }
            position += 1
        }
    }

    /// Whitespace, then an optional comment, then a newline or the end of the text.
    mutating func expectLineEnd(after what: @autoclosure () -> String) throws(TOMLError) {
        skipWhitespace()
        if peek() == UInt8(ascii: "#") { try skipComment() }
        if isAtEnd { return }
        guard isAtNewline else { throw error("expected a newline or a comment after \(what()), found \(found())") }
        consumeNewline()
    }

    /// Control characters TOML refuses in strings and comments: all but tab (and the newlines
    /// of multi-line strings, which the callers take first).
    static func isControl(_ byte: UInt8) -> Bool {
        (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F
    }
}

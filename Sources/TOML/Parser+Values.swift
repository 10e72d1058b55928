/// Values: strings, arrays and inline tables by their first character; numbers, booleans,
/// dates and times as one word each (see Parser+Scalars).
extension Parser {
    /// The value at `position`, which nests `depth` tables and arrays deep once read.
    mutating func parseValue(depth: Int) throws(TOMLError) -> TOMLValue {
        switch peek() {
        case UInt8(ascii: "\""):
            if peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") { return .string(try parseMultilineString()) }
            return .string(try parseBasicString())
        case UInt8(ascii: "'"):
            if peek(1) == UInt8(ascii: "'"), peek(2) == UInt8(ascii: "'") { return .string(try parseMultilineString()) }
            return .string(try parseLiteralString())
        case UInt8(ascii: "["):
            return try parseArray(depth: depth)
        case UInt8(ascii: "{"):
            return .table(try parseInlineTable(depth: depth))
        default:
            return try parseScalar()
        }
    }

    private func checkDepth(_ depth: Int) throws(TOMLError) {
        guard depth <= Self.maximumDepth else {
            throw error("tables and arrays are nested deeper than \(Self.maximumDepth)")
        }
    }

    /// `[ value, value, ]`: newlines and comments may come between the values.
    private mutating func parseArray(depth: Int) throws(TOMLError) -> TOMLValue {
        try checkDepth(depth)
        position += 1
        var values: [TOMLValue] = []
        while true {
            try skipArrayBlanks()
            if peek() == UInt8(ascii: "]"), !isAtEnd { break }
            if isAtEnd { throw error("expected a value or ']' to end the array, found end of file") }
            values.append(try parseValue(depth: depth + 1))
            try skipArrayBlanks()
            if peek() == UInt8(ascii: ","), !isAtEnd {
                position += 1
            } else if peek() == UInt8(ascii: "]"), !isAtEnd {
                break
            } else {
                throw error("expected ',' or ']' after a value of the array, found \(found())")
            }
        }
        position += 1
        return .array(values)
    }

    private mutating func skipArrayBlanks() throws(TOMLError) {
        while true {
            skipWhitespace()
            if isAtNewline {
                consumeNewline()
            } else if peek() == UInt8(ascii: "#"), !isAtEnd {
                try skipComment()
            } else {
                return
            }
        }
    }

    /// `{ key = value, key = value }` on one line, as TOML 1.0 has it: no newline, no trailing comma.
    private mutating func parseInlineTable(depth: Int) throws(TOMLError) -> TOMLTable {
        try checkDepth(depth)
        let table = TableNode(.inline, line: line, depth: depth)
        position += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "}"), !isAtEnd {
            position += 1
            return table.table()
        }
        while true {
            skipWhitespace()
            guard Self.startsKey(peek()), !isAtEnd else {
                throw error("expected a key of the inline table, found \(found())\(isAtNewline ? " (an inline table is on one line)" : "")")
            }
            try parseKeyValue(into: table)
            skipWhitespace()
            if peek() == UInt8(ascii: ","), !isAtEnd {
                position += 1
            } else if peek() == UInt8(ascii: "}"), !isAtEnd {
                position += 1
                return table.table()
            } else {
                let hint = isAtNewline ? " (an inline table is on one line)" : ""
                throw error("expected ',' or '}' after a value of the inline table, found \(found())\(hint)")
            }
        }
    }
}

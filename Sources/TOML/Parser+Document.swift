/// The document: lines of key/value pairs and table headers, and TOML's rules on which tables
/// a header or a dotted key may define or extend.
extension Parser {
    mutating func parseDocument() throws(TOMLError) -> TOMLTable {
        let root = TableNode(.header, line: 1, depth: 0)
        var current = root
        while !isAtEnd {
            skipWhitespace()
            switch peek() {
            case _ where isAtEnd:
                break
            case UInt8(ascii: "#"):
                try skipComment()
                try expectLineEnd(after: "a comment")
            case _ where isAtNewline:
                consumeNewline()
            case UInt8(ascii: "["):
                current = try parseHeader(root: root)
            default:
                let key = try parseKeyValue(into: current)
                try expectLineEnd(after: "the value of '\(Self.dotted(key))'")
            }
        }
        return root.table()
    }

    // MARK: Headers

    /// `[a.b]` or `[[a.b]]` and the rest of its line; returns the table the lines below fill.
    private mutating func parseHeader(root: TableNode) throws(TOMLError) -> TableNode {
        let start = position
        let isArray = peek(1) == UInt8(ascii: "[")
        position += isArray ? 2 : 1
        skipWhitespace()
        if !Self.startsKey(peek()) {
            throw error("expected the table's name after '\(isArray ? "[[" : "[")', found \(found())")
        }
        let key = try parseKey()
        let closing = isArray ? "]]" : "]"
        guard peek() == UInt8(ascii: "]"), !isArray || peek(1) == UInt8(ascii: "]") else {
            throw error("expected '\(closing)' after the table's name, found \(found())")
        }
        position += isArray ? 2 : 1
        let name = Self.dotted(key)
        let header = "[\(isArray ? "[" : "")\(name)\(closing)"

        var table = root
        for part in key.dropLast() {
            switch table[part] {
            case nil:
                table = try newTable(.implicit, in: table, key: part, at: start)
            case .table(let node):
                table = node
            case .arrayOfTables(let array):
                table = array.tables[array.tables.count - 1]
            case .value(let value, let line):
                throw error(notATable(part, value, line, header), at: start)
            }
        }
        let last = key[key.count - 1]
        let defined: TableNode
        switch (table[last], isArray) {
        case (nil, false):
            defined = try newTable(.header, in: table, key: last, at: start)
        case (nil, true):
            defined = try newTableNode(.header, in: table, at: start)
            table[last] = .arrayOfTables(.init(first: defined))
        case (.table(let node), false) where node.definition == .implicit:
            node.definition = .header
            node.line = line
            defined = node
        case (.table(let node), false):
            let how = node.definition == .dotted ? "by dotted keys" : "by a header"
            throw error("table '\(name)' is already defined (\(how) at line \(node.line)); a table is defined once", at: start)
        case (.table(let node), true):
            throw error("'\(name)' is already a table (line \(node.line)), not an array of tables", at: start)
        case (.arrayOfTables(let array), true):
            defined = try newTableNode(.header, in: table, at: start)
            array.tables.append(defined)
        case (.arrayOfTables(let array), false):
            throw error("'\(name)' is already an array of tables (line \(array.line)); add a table to it with [[\(name)]]", at: start)
        case (.value(let value, let line), _):
            let what = isArray && value.array != nil
                ? "'\(name)' is an array defined at line \(line); [[\(name)]] cannot append to it"
                : notATable(last, value, line, header)
            throw error(what, at: start)
        }
        try expectLineEnd(after: header)
        return defined
    }

    private func notATable(_ key: String, _ value: TOMLValue, _ line: Int, _ what: String) -> String {
        if value.table != nil {
            return "'\(Self.printable(key))' is an inline table (line \(line)), which \(what) cannot extend"
        }
        return "'\(Self.printable(key))' is already a value of type \(value.typeName) (line \(line)), not a table for \(what)"
    }

    private func newTableNode(_ definition: TableNode.Definition, in parent: TableNode, at start: Int) throws(TOMLError) -> TableNode {
        guard parent.depth < Self.maximumDepth else {
            throw error("tables and arrays are nested deeper than \(Self.maximumDepth)", at: start)
        }
        return TableNode(definition, line: line, depth: parent.depth + 1)
    }

    private func newTable(_ definition: TableNode.Definition, in parent: TableNode, key: String, at start: Int) throws(TOMLError) -> TableNode {
        let node = try newTableNode(definition, in: parent, at: start)
        parent[key] = .table(node)
        return node
    }

    // MARK: Key/value pairs

    /// `key = value`, with `key` possibly dotted, into `table` (the current header's, or an
    /// inline table being read).
    @discardableResult
    mutating func parseKeyValue(into table: TableNode) throws(TOMLError) -> [String] {
        let start = position
        let keyLine = line
        guard Self.startsKey(peek()) else {
            throw error("expected a key, a [table] header or a comment, found \(found())")
        }
        let key = try parseKey()
        guard peek() == UInt8(ascii: "=") else {
            throw error("expected '=' after the key '\(Self.dotted(key))', found \(found())")
        }
        position += 1
        skipWhitespace()
        // The tables of a dotted key count towards the depth of its value.
        let value = try parseValue(depth: table.depth + key.count)

        var parent = table
        for part in key.dropLast() {
            switch parent[part] {
            case nil:
                let node = try newTable(.dotted, in: parent, key: part, at: start)
                node.line = keyLine
                parent = node
            case .table(let node) where node.definition == .implicit || node.definition == .dotted:
                if node.definition == .implicit { (node.definition, node.line) = (.dotted, keyLine) }
                parent = node
            case .table(let node):
                throw error("table '\(Self.printable(part))' is defined by a header (line \(node.line)); dotted keys cannot add to it", at: start)
            case .arrayOfTables(let array):
                throw error("'\(Self.printable(part))' is an array of tables (line \(array.line)); dotted keys cannot add to it", at: start)
            case .value(let value, let line):
                throw error(notATable(part, value, line, "the dotted key '\(Self.dotted(key))'"), at: start)
            }
        }
        let last = key[key.count - 1]
        if let existing = parent[last] {
            let line = switch existing {
            case .value(_, let line): line
            case .table(let node): node.line
            case .arrayOfTables(let array): array.line
            }
            throw error("'\(Self.dotted(key))' is already defined (line \(line)); a key is defined once", at: start)
        }
        parent[last] = .value(value, line: keyLine)
        return key
    }

    // MARK: Keys

    static func startsKey(_ byte: UInt8) -> Bool {
        isBareKeyByte(byte) || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
    }

    static func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
        default: false
        }
    }

    /// A key of one or more parts (`a`, `"a b"`, `a.'b'.c`) and the blanks after it.
    mutating func parseKey() throws(TOMLError) -> [String] {
        var parts: [String] = []
        while true {
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: "\""):
                if peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") {
                    throw error("a key cannot be a multi-line string")
                }
                parts.append(try parseBasicString())
            case UInt8(ascii: "'"):
                if peek(1) == UInt8(ascii: "'"), peek(2) == UInt8(ascii: "'") {
                    throw error("a key cannot be a multi-line string")
                }
                parts.append(try parseLiteralString())
            default:
                let start = position
                while position < bytes.count, Self.isBareKeyByte(bytes[position]) { position += 1 }
                guard position > start else {
                    throw error("expected a key (letters, digits, '_', '-', or a quoted string), found \(found())")
                }
                parts.append(String(decoding: bytes[start..<position], as: UTF8.self))
            }
            skipWhitespace()
            guard peek() == UInt8(ascii: ".") else { return parts }
            position += 1
        }
    }

    /// `a.b` as a message names a key: parts that are not bare keys quoted, control characters escaped.
    static func dotted(_ key: [String]) -> String {
        key.map { part in
            !part.isEmpty && part.utf8.allSatisfy(isBareKeyByte) ? part : "\"\(printable(part))\""
        }.joined(separator: ".")
    }

    /// Text of the document for a message: control characters and quotes escaped.
    static func printable<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        printable(String(decoding: Array(bytes), as: UTF8.self))
    }

    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\", "\"": out += "\\\(scalar)"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
                || scalar.properties.generalCategory == .lineSeparator || scalar.properties.generalCategory == .paragraphSeparator
                || scalar.properties.generalCategory == .format:
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

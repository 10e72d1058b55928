/// A TOML table: its keys in the order the document defined them, each with its value and
/// the line that defined it.
public struct TOMLTable: Sendable, Equatable, RandomAccessCollection {
    /// One key of a table.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: TOMLValue
        /// The 1-based line of the key, or of the header (`[name]`, the first `[[name]]`) that
        /// defined the table named by the key.
        public var line: Int

        public init(key: String, value: TOMLValue, line: Int) {
            (self.key, self.value, self.line) = (key, value, line)
        }
    }

    public private(set) var entries: [Entry] = []
    private var positions: [String: Int] = [:]
    /// The 1-based line that defined the table: its header, its key, or its `{`; 1 for the root.
    public var line: Int

    public init(line: Int = 1) {
        self.line = line
    }

    /// Parses a TOML 1.0 document into its root table.
    ///
    /// - Throws: `TOMLError` with the line and column of the first fault; never traps on any text.
    public init(parsing text: String) throws(TOMLError) {
        var parser = Parser(text)
        self = try parser.parseDocument()
    }

    /// The value of `key`, if the table has it.
    public subscript(key: String) -> TOMLValue? {
        positions[key].map { entries[$0].value }
    }

    /// The entry of `key`, with its line, if the table has it.
    public func entry(_ key: String) -> Entry? {
        positions[key].map { entries[$0] }
    }

    /// Adds `key` at the end; the parser has checked that it is new.
    mutating func append(_ entry: Entry) {
        positions[entry.key] = entries.count
        entries.append(entry)
    }

    public var startIndex: Int { entries.startIndex }
    public var endIndex: Int { entries.endIndex }
    public subscript(position: Int) -> Entry { entries[position] }

    public static func == (left: TOMLTable, right: TOMLTable) -> Bool {
        left.entries == right.entries
    }
}

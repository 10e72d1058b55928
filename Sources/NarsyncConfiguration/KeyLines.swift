import Foundation

/// The line each key of a TOML text is on. TOMLKit reports lines only for syntax errors, so
/// messages about a key's meaning find its line here: a light scan of `[table]` and
/// `[[table]]` headers and `key =` lines, good for the flat files narsync reads.
struct KeyLines {
    private struct Place: Hashable {
        var table: String?
        var index: Int?
        var key: String
    }

    private var lines: [Place: Int] = [:]

    init(_ text: String) {
        var table: String?
        var index: Int?
        var arrayCounts: [String: Int] = [:]
        // Lines end at every "\n" byte, as toml++ counts them; split by Characters, a "\r\n"
        // would not end one.
        for (number, rawLine) in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = Substring(rawLine).trimmingCharacters(in: .whitespacesAndNewlines)
            if line.hasPrefix("[[") {
                let name = Self.unquoted(line.dropFirst(2).prefix { $0 != "]" })
                (table, index) = (name, arrayCounts[name, default: 0])
                arrayCounts[name, default: 0] += 1
                lines[Place(table: nil, index: nil, key: name)] = lines[Place(table: nil, index: nil, key: name)] ?? number + 1
            } else if line.hasPrefix("[") {
                let name = Self.unquoted(line.dropFirst().prefix { $0 != "]" })
                (table, index) = (name, nil)
                lines[Place(table: nil, index: nil, key: name)] = number + 1
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = Self.unquoted(line[..<equals])
                lines[Place(table: table, index: index, key: key)] = number + 1
            }
        }
    }

    /// The line of `key` in `table` (the `index`th of an array of tables), 1-based.
    func line(of key: String, in table: String?, index: Int?) -> Int? {
        lines[Place(table: table, index: index, key: key)]
    }

    private static func unquoted(_ text: Substring) -> String {
        text.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
    }
}

import Testing
import TOML

/// The root table of `text`, which must be valid.
func parse(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TOMLTable {
    try TOMLTable(parsing: text)
}

/// The error `text` must be refused with.
func refusal(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> TOMLError? {
    do {
        let table = try TOMLTable(parsing: text)
        Issue.record("accepted \(text.debugDescription) as \(table)", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(!error.description.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F },
                "unprintable: \(error.description.debugDescription)", sourceLocation: sourceLocation)
        return error
    }
}

/// Checks that `text` is refused at `line` with a reason containing `reason`.
func expectRefused(_ text: String, line: Int, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let error = refusal(text, sourceLocation: sourceLocation)
    #expect(error?.line == line, "\(text.debugDescription): \(String(describing: error))", sourceLocation: sourceLocation)
    #expect(error?.reason.contains(reason) == true, "\(text.debugDescription): \(String(describing: error))", sourceLocation: sourceLocation)
}

/// The value of the key `key` of the one-line document `key = value`.
func value(_ literal: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TOMLValue? {
    try TOMLTable(parsing: "v = \(literal)")["v"]
}

/// Why a text is not a TOML document, and where: one printable line.
public struct TOMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based.
    public var line: Int
    /// 1-based, in Unicode scalars.
    public var column: Int
    /// What is wrong and what was expected; the text's own characters appear escaped.
    public var reason: String

    public init(line: Int, column: Int, reason: String) {
        (self.line, self.column, self.reason) = (line, column, reason)
    }

    public var description: String { "line \(line), column \(column): \(reason)" }
}

/// A table while its document is read: still open to the keys and headers TOML allows to add
/// to it. TOML's rules against redefinition depend on how each table came to be.
final class TableNode {
    enum Definition {
        /// Named on the way to another by a header (`a` of `[a.b]`): a later `[a]` may define it.
        case implicit
        /// By its own header, `[a]` or one `[[a]]`, or the root.
        case header
        /// By dotted keys (`a.b = 1` defines `a`): open to more of them, never to `[a]`.
        case dotted
        /// An inline table being read: closed once its `}` is read.
        case inline
    }

    /// A key of an open table.
    enum Child {
        /// A value complete as read: scalars, arrays, inline tables (never extended).
        case value(TOMLValue, line: Int)
        case table(TableNode)
        /// The tables of `[[name]]` headers so far: each new header appends one.
        case arrayOfTables(ArrayOfTables)
    }

    final class ArrayOfTables {
        var tables: [TableNode]
        let line: Int

        init(first: TableNode) {
            tables = [first]
            line = first.line
        }
    }

    var definition: Definition
    var line: Int
    /// Tables and arrays around this one: the root is 0.
    let depth: Int
    private(set) var keys: [String] = []
    private(set) var children: [String: Child] = [:]

    init(_ definition: Definition, line: Int, depth: Int) {
        (self.definition, self.line, self.depth) = (definition, line, depth)
    }

    subscript(key: String) -> Child? {
        get { children[key] }
        set {
            if children.updateValue(newValue!, forKey: key) == nil { keys.append(key) }
        }
    }

    /// The finished table. Recursion is as deep as the tables nest, which the parser bounds.
    func table() -> TOMLTable {
        var table = TOMLTable(line: line)
        for key in keys {
            switch children[key]! {
            case .value(let value, let line):
                table.append(.init(key: key, value: value, line: line))
            case .table(let node):
                table.append(.init(key: key, value: .table(node.table()), line: node.line))
            case .arrayOfTables(let array):
                table.append(.init(key: key, value: .array(array.tables.map { .table($0.table()) }), line: array.line))
            }
        }
        return table
    }
}

import CSQLite
import Foundation

/// An SQLite error, with the database file and the statement that failed.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var message: String
    public var path: String
    public var sql: String?

    public init(code: Int32, message: String, path: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.sql = sql
    }

    public var description: String {
        var text = "SQLite database '\(path)': \(message) (code \(code))"
        if let sql { text += " in: \(sql)" }
        return text
    }

    /// The database was locked for longer than the busy timeout.
    public var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }
}

/// One SQLite connection. Not thread-safe: use it from one thread at a time (narsync keeps each
/// connection on a dedicated thread, never on Swift's cooperative pool).
public final class SQLiteDatabase: @unchecked Sendable {
    public enum Mode: Sendable {
        /// SQLITE_OPEN_READONLY: honours the WAL of a database another process writes.
        case readOnly
        case readWriteCreate
        /// `immutable=1`: reads the database file alone, with no lock, no WAL and no `-shm`.
        /// Only sound while something else guarantees the file does not change (see
        /// `lockMainFileShared()`); the page cache is never invalidated, so use such a
        /// connection for one read and close it.
        case immutable
    }

    public let path: String
    private var handle: OpaquePointer?
    private var statementCache: [String: SQLiteStatement] = [:]

    public init(path: String, mode: Mode, busyTimeout: Duration = .seconds(60)) throws {
        self.path = path
        let flags: Int32 = switch mode {
        case .readOnly: SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
        case .readWriteCreate: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        case .immutable: SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX
        }
        let name = mode == .immutable ? Self.uri(path, query: "immutable=1") : path
        var db: OpaquePointer?
        let code = sqlite3_open_v2(name, &db, flags, nil)
        handle = db
        guard code == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_close_v2(db)
            handle = nil
            throw SQLiteError(code: code, message: message, path: path)
        }
        sqlite3_extended_result_codes(db, 1)
        let milliseconds = busyTimeout.components.seconds * 1000 + busyTimeout.components.attoseconds / 1_000_000_000_000_000
        sqlite3_busy_timeout(db, Int32(clamping: milliseconds))
    }

    deinit {
        statementCache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// An SQLite URI naming `path` (absolute), its `%`, `?` and `#` escaped.
    static func uri(_ path: String, query: String) -> String {
        var escaped = ""
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "%"), UInt8(ascii: "?"), UInt8(ascii: "#"): escaped += String(format: "%%%02X", byte)
            default: escaped.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return "file:\(escaped)?\(query)"
    }

    /// Takes SQLite's own SHARED lock on the main database file through SQLite's VFS (so it
    /// shares the process's POSIX locks the way SQLite's other connections expect), whatever
    /// this connection's mode: an `immutable` connection takes none by itself. While held, no
    /// other connection can take the EXCLUSIVE lock: in WAL mode, the one a closing last
    /// connection needs to checkpoint and delete the `-wal` file. Returns false if a writer holds
    /// a PENDING or EXCLUSIVE lock now (try again shortly).
    public func lockMainFileShared() throws -> Bool {
        let file = try mainFile()
        let code = file.pointee.pMethods.pointee.xLock(file, SQLITE_LOCK_SHARED)
        if code == SQLITE_BUSY { return false }
        guard code == SQLITE_OK else { throw SQLiteError(code: code, message: String(cString: sqlite3_errstr(code)), path: path) }
        return true
    }

    /// Releases the lock `lockMainFileShared()` took.
    public func unlockMainFile() {
        guard let file = try? mainFile() else { return }
        _ = file.pointee.pMethods.pointee.xUnlock(file, SQLITE_LOCK_NONE)
    }

    private func mainFile() throws -> UnsafeMutablePointer<sqlite3_file> {
        var file: UnsafeMutablePointer<sqlite3_file>?
        let code = sqlite3_file_control(handle, "main", SQLITE_FCNTL_FILE_POINTER, &file)
        guard code == SQLITE_OK, let file, file.pointee.pMethods != nil else {
            throw SQLiteError(code: code == SQLITE_OK ? SQLITE_CANTOPEN : code, message: "the database file is not open", path: path)
        }
        return file
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if code != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_free(errorMessage)
            throw SQLiteError(code: code, message: message, path: path, sql: sql)
        }
    }

    /// A prepared statement, cached by its text for the life of the connection.
    public func prepare(_ sql: String) throws -> SQLiteStatement {
        if let cached = statementCache[sql] {
            cached.reset()
            return cached
        }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw error(code, sql: sql) }
        let prepared = SQLiteStatement(statement: statement, database: self, sql: sql)
        statementCache[sql] = prepared
        return prepared
    }

    /// Runs `sql` with `bindings` and calls `row` for each result row.
    public func query(_ sql: String, _ bindings: [SQLiteValue] = [], row: (SQLiteRow) throws -> Void) throws {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        while try statement.step() {
            try row(SQLiteRow(statement: statement))
        }
    }

    /// Runs a statement that returns no rows; returns the number of rows it changed.
    @discardableResult
    public func run(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> Int {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws.
    /// `deferred` read transactions keep Nix's writers unblocked; writers use `immediate`.
    public func transaction<T>(_ kind: TransactionKind = .deferred, _ body: () throws -> T) throws -> T {
        try execute("BEGIN \(kind.rawValue)")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    public enum TransactionKind: String, Sendable {
        case deferred = "DEFERRED", immediate = "IMMEDIATE"
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    func error(_ code: Int32, sql: String?) -> SQLiteError {
        SQLiteError(code: code, message: String(cString: sqlite3_errmsg(handle)), path: path, sql: sql)
    }
}

/// A value bound to a statement parameter.
public enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])
}

extension SQLiteValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(nilLiteral: ()) { self = .null }

    public init(_ value: String?) { self = value.map { .text($0) } ?? .null }
    public init(_ value: Int64?) { self = value.map { .integer($0) } ?? .null }
    public init(_ value: Int?) { self = value.map { .integer(Int64($0)) } ?? .null }
}

/// A prepared statement owned by its connection.
public final class SQLiteStatement {
    let statement: OpaquePointer
    unowned let database: SQLiteDatabase
    let sql: String

    init(statement: OpaquePointer, database: SQLiteDatabase, sql: String) {
        self.statement = statement
        self.database = database
        self.sql = sql
    }

    deinit { sqlite3_finalize(statement) }

    func reset() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    func bind(_ values: [SQLiteValue]) throws {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32 = switch value {
            case .null: sqlite3_bind_null(statement, index)
            case .integer(let number): sqlite3_bind_int64(statement, index, number)
            case .text(let text): sqlite3_bind_text(statement, index, text, -1, csqlite_transient())
            case .blob(let bytes): bytes.withUnsafeBytes {
                sqlite3_bind_blob64(statement, index, $0.baseAddress, sqlite3_uint64($0.count), csqlite_transient())
            }
            }
            guard code == SQLITE_OK else { throw database.error(code, sql: sql) }
        }
    }

    /// Advances to the next row; false when the statement is done.
    func step() throws -> Bool {
        let code = sqlite3_step(statement)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw database.error(code, sql: sql)
        }
    }
}

/// The current row of a query, valid only inside the row callback.
public struct SQLiteRow {
    let statement: SQLiteStatement

    public func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(statement.statement, column) == SQLITE_NULL
    }

    public func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(statement.statement, column)
    }

    public func optionalInt64(_ column: Int32) -> Int64? {
        isNull(column) ? nil : int64(column)
    }

    public func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(statement.statement, column) else { return "" }
        return String(cString: text)
    }

    public func optionalString(_ column: Int32) -> String? {
        isNull(column) ? nil : string(column)
    }

    public func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement.statement, column))
        guard count > 0, let base = sqlite3_column_blob(statement.statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }
}

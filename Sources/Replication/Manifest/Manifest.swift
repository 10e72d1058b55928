import Foundation
import NixStore
import SQLite

/// narsync's durable state: per destination, the watermark in the Nix database, the queue of
/// paths to publish, what is published, and the multipart uploads in flight.
///
/// One SQLite file, `<stateDirectory>/manifest.sqlite`. Every method is one transaction, so a
/// crash at any point leaves the state of the last completed call: a path is always either
/// queued or published, never neither.
///
/// Methods block (SQLite) and are serialised by a lock, so the manifest can be shared by the
/// service's threads; from async code use it through `AsyncManifest`, never on the cooperative
/// pool. Destinations are named by a string that must not contain secrets (e.g. the cache URL
/// without credentials); a destination's records are created on first use.
public final class Manifest: @unchecked Sendable {
    /// The manifest file.
    public let path: String
    /// How long failed paths wait before they are tried again.
    public let retryPolicy: RetryPolicy

    private let lock = NSLock()
    private let database: SQLiteDatabase
    private var destinationIDs: [String: Int64] = [:]

    public static let fileName = "manifest.sqlite"

    public enum Mode: Sendable {
        /// Creates the state directory and manifest if needed and brings the schema up to date.
        case readWrite
        /// For `narsync status`: never creates or changes anything; the manifest must exist and
        /// have this narsync's schema.
        case readOnly
    }

    public init(stateDirectory: String, mode: Mode = .readWrite, retryPolicy: RetryPolicy = RetryPolicy()) throws {
        path = "\(stateDirectory)/\(Self.fileName)"
        self.retryPolicy = retryPolicy
        switch mode {
        case .readWrite:
            // SQLite would only say "unable to open database file"; name the directory and why.
            try ManifestError.requireWritable(stateDirectory: stateDirectory)
            database = try SQLiteDatabase(path: path, mode: .readWriteCreate)
            // WAL lets `narsync status` read while the service writes. synchronous=NORMAL does
            // not fsync each commit: a power loss may undo the newest commits, never reorder
            // them (the WAL is one checksummed sequence). Undoing a suffix only repeats work
            // (re-enqueue, re-check a published path), because every advance of the watermark
            // is committed together with, or after, the queue entries it stands for.
            try database.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
            try migrate()
        case .readOnly:
            guard FileManager.default.fileExists(atPath: path) else { throw ManifestError.missing(path: path) }
            database = try SQLiteDatabase(path: path, mode: .readOnly)
            let version = try schemaVersion()
            guard version == ManifestSchema.migrations.count else {
                throw ManifestError.schemaMismatch(path: path, found: version, expected: ManifestSchema.migrations.count)
            }
        }
    }

    /// Creates `stateDirectory` if needed, and throws `ManifestError` naming it if it cannot be
    /// written: for checks before anything else (keys, caches) is written there.
    public static func requireWritable(stateDirectory: String) throws {
        try ManifestError.requireWritable(stateDirectory: stateDirectory)
    }

    /// The schema version this narsync writes (`PRAGMA user_version`).
    public static var schemaVersion: Int { ManifestSchema.migrations.count }

    /// Every destination the manifest has records for, by name.
    public func destinations() throws -> [String] {
        try read { database in
            var names: [String] = []
            try database.query("SELECT name FROM destinations ORDER BY name") { names.append($0.string(0)) }
            return names
        }
    }

    /// Moves the records (watermark, queue, published paths, uploads) kept under `formerName`
    /// to `name`, if the manifest has records under `formerName` and none under `name` yet.
    ///
    /// Destinations were once known by a name that left part of their place out (S3's
    /// `s3://bucket`, without endpoint, region or profile); they are now known by their
    /// `DestinationIdentity`. The first destination opened that had the former name takes its
    /// records, so a service upgraded in place carries on where it stopped.
    /// - Returns: whether records moved.
    @discardableResult
    public func migrateDestination(from formerName: String, to name: String) throws -> Bool {
        guard formerName != name else { return false }
        return try write { database in
            guard try existingDestinationID(name, in: database) == nil,
                  let id = try existingDestinationID(formerName, in: database) else { return false }
            try database.run("UPDATE destinations SET name = ? WHERE id = ?", [.text(name), .integer(id)])
            destinationIDs[formerName] = nil
            destinationIDs[name] = id
            return true
        }
    }

    // MARK: Watermark

    /// The highest Nix `ValidPaths` id handled for `destination`; nil before its first start.
    public func watermark(for destination: String) throws -> Int64? {
        try read { database in
            guard let id = try existingDestinationID(destination, in: database) else { return nil }
            var watermark: Int64?
            try database.query("SELECT watermark FROM destinations WHERE id = ?", [.integer(id)]) {
                watermark = $0.optionalInt64(0)
            }
            return watermark
        }
    }

    /// Records that every `ValidPaths` row up to `id` is handled. To enqueue the paths of those
    /// rows in the same transaction, use `enqueue(_:for:advancingWatermarkTo:now:)` instead.
    public func setWatermark(_ id: Int64, for destination: String) throws {
        try write { database in
            try database.run("UPDATE destinations SET watermark = ? WHERE id = ?",
                             [.integer(id), .integer(try destinationID(destination, in: database))])
        }
    }

    // MARK: Transactions

    /// Runs `body` in one write transaction, under the lock.
    @discardableResult
    func write<T>(_ body: (SQLiteDatabase) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        do {
            return try database.transaction(.immediate) { try body(database) }
        } catch {
            // A destination row created in the rolled-back transaction is gone again.
            destinationIDs.removeAll()
            throw error
        }
    }

    /// Runs `body` in one read transaction, under the lock, so that it sees one snapshot.
    func read<T>(_ body: (SQLiteDatabase) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try database.transaction(.deferred) { try body(database) }
    }

    /// The row id of `destination`, creating its row on first use. Call inside `write`.
    func destinationID(_ name: String, in database: SQLiteDatabase) throws -> Int64 {
        if let id = try existingDestinationID(name, in: database) { return id }
        try database.run("INSERT INTO destinations (name) VALUES (?)", [.text(name)])
        return database.lastInsertRowID
    }

    /// The row id of `destination`, or nil if the manifest has no records for it.
    func existingDestinationID(_ name: String, in database: SQLiteDatabase) throws -> Int64? {
        if let id = destinationIDs[name] { return id }
        var id: Int64?
        try database.query("SELECT id FROM destinations WHERE name = ?", [.text(name)]) { id = $0.int64(0) }
        if let id { destinationIDs[name] = id }
        return id
    }

    /// A store path read back from the manifest; a malformed one means the file was edited.
    func storePath(_ text: String) throws -> StorePath {
        do {
            return try StorePath(baseName: text)
        } catch {
            throw ManifestError.invalidStoredPath(path: path, value: text)
        }
    }

    // MARK: Schema

    private func schemaVersion() throws -> Int {
        var version = 0
        try database.query("PRAGMA user_version") { version = Int($0.int64(0)) }
        return version
    }

    private func migrate() throws {
        let migrations = ManifestSchema.migrations
        let version = try schemaVersion()
        guard version <= migrations.count else {
            throw ManifestError.schemaMismatch(path: path, found: version, expected: migrations.count)
        }
        for (index, migration) in migrations.enumerated().dropFirst(version) {
            try database.transaction(.immediate) {
                try database.execute(migration)
                try database.execute("PRAGMA user_version = \(index + 1)")
            }
        }
    }
}

extension Date {
    /// Milliseconds since 1970, as the manifest stores times.
    var manifestTime: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    init(manifestTime milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}

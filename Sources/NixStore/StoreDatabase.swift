import Foundation
import SQLite

/// A read-only view of Nix's database, `<root>/nix/var/nix/db/db.sqlite`.
///
/// Opened read-only (never `immutable` while Nix may be writing: see `ReadOnlyDatabaseAccess`,
/// which also lets a user who may not write beside the database read it), so the write-ahead
/// log that Nix commits into is honoured and rows appear as soon as Nix commits them. Every
/// query is its own short read transaction, so Nix, which writes to this database constantly,
/// is never held up; the busy timeout is long because Nix's checkpoints can briefly lock the file.
///
/// At open, the database's schema is checked (`NixDatabaseSchema`): an unknown one is refused.
///
/// Blocking and not thread-safe: use one `StoreDatabase` per dedicated thread.
public final class StoreDatabase: @unchecked Sendable {
    public let layout: StoreLayout
    private let access: ReadOnlyDatabaseAccess
    /// What the database's schema holds (its version and migrations).
    public let schema: NixDatabaseSchema

    public var storeDirectory: StoreDirectory { layout.storeDirectory }
    public var databasePath: String { layout.databasePath }

    /// - Parameter busyTimeout: how long a query waits for a lock another process holds (a
    ///   writer's exclusive lock when Nix runs without WAL, `use-sqlite-wal = false`; a WAL
    ///   recovery) before it fails busy.
    public init(layout: StoreLayout = StoreLayout(), busyTimeout: Duration = .seconds(60)) throws {
        self.layout = layout
        let databasePath = layout.databasePath
        access = ReadOnlyDatabaseAccess(path: databasePath, busyTimeout: busyTimeout)
        do {
            // Fail now, with the file named, rather than at the first query.
            schema = try access.read { database in
                try database.query("SELECT id FROM ValidPaths LIMIT 1") { _ in }
                return try NixDatabaseSchema.read(database, directory: layout.databaseDirectory)
            }
        } catch let error as SQLiteError {
            throw StoreDatabaseError.cannotOpen(databasePath, error)
        }
        try schema.checkSupported(databasePath: databasePath)
    }

    /// Whether reads go through a live connection to the WAL (false: snapshots of the database
    /// file, as a user who may not create the `-wal` file while no Nix process has it open).
    public var readsLive: Bool { access.isLive }

    private func read<T>(_ body: (SQLiteDatabase) throws -> T) throws -> T {
        try access.read(body)
    }

    /// The info of `path`, or nil if it is not valid.
    public func pathInfo(_ path: StorePath) throws -> ValidPathInfo? {
        try read { try pathInfo(path, in: $0) }
    }

    private func pathInfo(_ path: StorePath, in database: SQLiteDatabase) throws -> ValidPathInfo? {
        var found: ValidPathInfo?
        try database.query(Self.selectColumns + " WHERE path = ?", [.text(storeDirectory.fullPath(of: path))]) { row in
            found = try decode(row)
        }
        guard var info = found else { return nil }
        info.references = try references(ofRowID: info.id, in: database)
        return info
    }

    /// The valid paths with an id above `id`, oldest first, at most `limit` of them.
    public func paths(after id: Int64, limit: Int = 10_000) throws -> [ValidPathInfo] {
        try read { database in
            var infos: [ValidPathInfo] = []
            try database.query(Self.selectColumns + " WHERE id > ? ORDER BY id LIMIT ?", [.integer(id), .integer(Int64(limit))]) { row in
                infos.append(try decode(row))
            }
            for index in infos.indices {
                infos[index].references = try references(ofRowID: infos[index].id, in: database)
            }
            return infos
        }
    }

    /// The highest `ValidPaths` id, 0 for an empty store.
    public func newestID() throws -> Int64 {
        try read { database in
            var newest: Int64 = 0
            try database.query("SELECT max(id) FROM ValidPaths") { newest = $0.optionalInt64(0) ?? 0 }
            return newest
        }
    }

    /// Every valid path, with references, in two queries (not one per path): what `--all` needs.
    /// In `ValidPaths` order, built in one array (no dictionary of the paths besides it).
    public func allPaths() throws -> [ValidPathInfo] {
        try read { database in
            try database.transaction {
                var infos: [ValidPathInfo] = []
                var positionByID: [Int64: Int32] = [:]
                try database.query(Self.selectColumns + " ORDER BY id") { row in
                    let info = try decode(row)
                    positionByID[info.id] = Int32(infos.count)
                    infos.append(info)
                }
                try database.query("SELECT referrer, reference FROM Refs") { row in
                    guard let referrer = positionByID[row.int64(0)], let reference = positionByID[row.int64(1)] else {
                        return
                    }
                    infos[Int(referrer)].references.append(infos[Int(reference)].path)
                }
                for position in infos.indices { infos[position].references.sort() }
                return infos
            }
        }
    }

    /// The closure of `roots`: every path they reference, directly or not, including themselves.
    /// - Throws: `StoreDatabaseError.notValid` naming the first root that is not a valid path.
    public func closure(of roots: [StorePath]) throws -> [StorePath: ValidPathInfo] {
        try read { try closure(of: roots, in: $0) }
    }

    private func closure(of roots: [StorePath], in database: SQLiteDatabase) throws -> [StorePath: ValidPathInfo] {
        var closure: [StorePath: ValidPathInfo] = [:]
        var pending: [StorePath] = []
        for root in roots where closure[root] == nil {
            guard let info = try pathInfo(root, in: database) else { throw StoreDatabaseError.notValid(storeDirectory.fullPath(of: root)) }
            closure[root] = info
            pending.append(contentsOf: info.references)
        }
        while let path = pending.popLast() {
            guard closure[path] == nil else { continue }
            // A reference that vanished between two queries was garbage-collected with its
            // referrer; the referrer's upload will find it gone and skip it.
            guard let info = try pathInfo(path, in: database) else { continue }
            closure[path] = info
            pending.append(contentsOf: info.references)
        }
        return closure
    }

    /// The outputs Nix recorded for the store derivation `derivation` (its `DerivationOutputs`
    /// rows), whether or not they are valid yet.
    public func outputs(ofDerivation derivation: StorePath) throws -> [StorePath] {
        try read { database in
            var outputs: [StorePath] = []
            try database.query(
                "SELECT o.path FROM DerivationOutputs o JOIN ValidPaths v ON o.drv = v.id WHERE v.path = ? ORDER BY o.id",
                [.text(storeDirectory.fullPath(of: derivation))]
            ) { row in
                outputs.append(try storeDirectory.parsePath(row.string(0)))
            }
            return outputs
        }
    }

    /// The realisations Nix recorded with `path` as their output (none unless the database has
    /// the `Realisations` table of content-addressed derivations), with their dependencies.
    public func realisations(of path: StorePath) throws -> [Realisation] {
        guard schema.hasRealisations else { return [] }
        return try read { database in
            var found: [(rowID: Int64, realisation: Realisation)] = []
            try database.query(
                "SELECT r.id, r.drvPath, r.outputName, r.signatures FROM Realisations r JOIN ValidPaths v ON r.outputPath = v.id WHERE v.path = ? ORDER BY r.id",
                [.text(storeDirectory.fullPath(of: path))]
            ) { row in
                let signatures = (row.optionalString(3) ?? "").split(separator: " ").map(String.init)
                found.append((row.int64(0), Realisation(id: "\(row.string(1))!\(row.string(2))", outPath: path, signatures: signatures)))
            }
            for index in found.indices {
                try database.query(
                    """
                    SELECT d.drvPath, d.outputName, v.path FROM RealisationsRefs x JOIN Realisations d ON x.realisationReference = d.id
                    JOIN ValidPaths v ON d.outputPath = v.id WHERE x.referrer = ?
                    """, [.integer(found[index].rowID)]
                ) { row in
                    found[index].realisation.dependentRealisations["\(row.string(0))!\(row.string(1))"] = try storeDirectory.parsePath(row.string(2))
                }
            }
            return found.map(\.realisation)
        }
    }

    /// The closure of those of `roots` that are still valid, and the roots that are not (they
    /// were garbage-collected since they were found).
    public func validClosure(of roots: [StorePath]) throws -> (closure: [StorePath: ValidPathInfo], gone: [StorePath]) {
        try read { database in
            var valid: [StorePath] = [], gone: [StorePath] = []
            for root in roots {
                if try pathInfo(root, in: database) != nil { valid.append(root) } else { gone.append(root) }
            }
            return (try closure(of: valid, in: database), gone)
        }
    }

    private static let selectColumns =
        "SELECT id, path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca FROM ValidPaths"

    private func decode(_ row: SQLiteRow) throws -> ValidPathInfo {
        let pathText = row.string(1)
        do {
            let path = try storeDirectory.parsePath(pathText)
            let deriver = try row.optionalString(4).flatMap { $0.isEmpty ? nil : try storeDirectory.parsePath($0) }
            let signatures = (row.optionalString(7) ?? "").split(separator: " ").map(String.init)
            let ca = row.optionalString(8).flatMap { $0.isEmpty ? nil : $0 }
            return ValidPathInfo(
                id: row.int64(0), path: path, narHash: try NixHash(parsing: row.string(2)),
                narSize: UInt64(max(0, row.optionalInt64(5) ?? 0)), deriver: deriver, signatures: signatures,
                ca: ca, registrationTime: row.int64(3), ultimate: (row.optionalInt64(6) ?? 0) != 0
            )
        } catch {
            throw StoreDatabaseError.corruptRow(databasePath, path: pathText, underlying: "\(error)")
        }
    }

    private func references(ofRowID id: Int64, in database: SQLiteDatabase) throws -> [StorePath] {
        var references: [StorePath] = []
        try database.query(
            "SELECT v.path FROM Refs r JOIN ValidPaths v ON r.reference = v.id WHERE r.referrer = ?", [.integer(id)]
        ) { row in
            references.append(try storeDirectory.parsePath(row.string(0)))
        }
        return references.sorted()
    }
}

public enum StoreDatabaseError: Error, CustomStringConvertible {
    case cannotOpen(String, SQLiteError)
    case notValid(String)
    case corruptRow(String, path: String, underlying: String)
    /// A database written by a Nix whose schema narsync does not know: the database and what is unknown.
    case unknownSchema(String, String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let error) where error.isBusy:
            "cannot read the Nix database \(path): another process held a lock on it for longer than the busy timeout (\(error.message))"
        case .cannotOpen(let path, let error):
            "cannot read the Nix database \(path): \(error.message). Is Nix installed there (see --store-root), and may this user read it?"
        case .notValid(let path):
            "\(path) is not a valid path in the Nix store (not in the Nix database); build or substitute it first"
        case .unknownSchema(let database, let what):
            "the Nix database \(database) has \(what), which this narsync does not know: upgrade narsync to a release that supports your Nix version"
        case .corruptRow(let database, let path, let underlying):
            "the Nix database \(database) has an unusable row for '\(path)': \(underlying)"
        }
    }
}

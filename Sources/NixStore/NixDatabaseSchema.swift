import Foundation
import SQLite

/// What a Nix database says about its own layout: the version in the `schema` file beside it
/// (10 from Nix 2.0 to today's Nix) and, since Nix 2.4, the names of the optional migrations
/// applied to it in its `SchemaMigrations` table. narsync reads tables whose layout these
/// fix, so it refuses a database whose schema it does not know rather than misread it.
public struct NixDatabaseSchema: Sendable, Equatable {
    /// The `schema` file's number; nil if the file is missing (a database made by hand).
    public var version: Int?
    /// The rows of `SchemaMigrations`, empty for a database that has no such table (Nix 2.3 and
    /// older, or a newer Nix that never needed one).
    public var migrations: [String]

    /// The schema versions whose tables narsync reads correctly.
    public static let supportedVersions: Set<Int> = [10]
    /// The migrations narsync knows: the content-addressed derivations' tables (`Realisations`,
    /// `RealisationsRefs`), which Nix adds with `experimental-features = ca-derivations`.
    public static let knownMigrations: Set<String> = ["20220326-ca-derivations"]

    /// Whether the database has the `Realisations` table of content-addressed derivations.
    public var hasRealisations: Bool { migrations.contains("20220326-ca-derivations") }

    /// Reads the `schema` file in `directory` and the `SchemaMigrations` table of `database`.
    static func read(_ database: SQLiteDatabase, directory: String) throws -> NixDatabaseSchema {
        let text = try? String(contentsOfFile: "\(directory)/schema", encoding: .utf8)
        let version = text.map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        var hasTable = false
        try database.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'SchemaMigrations'") { _ in hasTable = true }
        var migrations: [String] = []
        if hasTable {
            try database.query("SELECT migration FROM SchemaMigrations ORDER BY migration") { migrations.append($0.string(0)) }
        }
        return NixDatabaseSchema(version: version, migrations: migrations)
    }

    /// Throws `StoreDatabaseError.unknownSchema` unless narsync knows this schema.
    public func checkSupported(databasePath: String) throws {
        if let version, !Self.supportedVersions.contains(version) {
            throw StoreDatabaseError.unknownSchema(databasePath, "schema version \(version) (narsync reads version 10)")
        }
        let unknown = migrations.filter { !Self.knownMigrations.contains($0) }
        if !unknown.isEmpty {
            throw StoreDatabaseError.unknownSchema(databasePath, "schema migration \(unknown.joined(separator: ", ")) (narsync knows \(Self.knownMigrations.sorted().joined(separator: ", ")))")
        }
    }
}

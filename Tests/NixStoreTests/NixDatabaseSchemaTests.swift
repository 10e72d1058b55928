import Foundation
import Testing
import TestSupport
@testable import NixStore

/// The schema check on databases the real Nix 2.8 and Nix 2.26 make, and on doctored copies.
@Suite struct NixDatabaseSchemaTests {
    /// A store made by `version`, with content-addressed derivations on or off.
    private func store(_ version: NixVersion, caDerivations: Bool = false) throws -> NixEnvironment {
        let nix = try NixEnvironment(nix: version, extraConfig: caDerivations ? "extra-experimental-features = ca-derivations" : "")
        try nix.createStore()
        return nix
    }

    @Test(arguments: NixVersion.tested)
    func aRealNixDatabaseIsRead(nix version: NixVersion) throws {
        let nix = try store(version)
        let database = try StoreDatabase(layout: StoreLayout(root: nix.storeRoot))
        #expect(database.schema.version == 10)
        // SchemaMigrations came with Nix 2.4; Nix 2.26 creates it even when empty.
        #expect(database.schema.migrations.isEmpty)
        #expect(try database.newestID() >= 1)
    }

    @Test(.enabled(if: NixVersion.tested.contains(.v2_26), "needs root for Nix 2.26"))
    func nix226WithContentAddressedDerivationsRecordsItsMigration() throws {
        let nix = try store(.v2_26, caDerivations: true)
        let database = try StoreDatabase(layout: StoreLayout(root: nix.storeRoot))
        #expect(database.schema.migrations == ["20220326-ca-derivations"])
        #expect(database.schema.hasRealisations)
    }

    /// A schema file of a version narsync does not know, and a migration it does not know: one
    /// line naming the database, what is unknown and what to do.
    @Test func anUnknownSchemaIsRefusedWithOneLineNamingTheDatabase() throws {
        let nix = try store(.v2_8)
        let layout = StoreLayout(root: nix.storeRoot)
        let schemaFile = "\(layout.databaseDirectory)/schema"

        try "11".write(toFile: schemaFile, atomically: true, encoding: .utf8)
        let version = #expect(throws: StoreDatabaseError.self) { try StoreDatabase(layout: layout) }
        let versionMessage = "\(version!)"
        #expect(versionMessage.contains(layout.databasePath) && versionMessage.contains("schema version 11"), "\(versionMessage)")
        #expect(versionMessage.contains("upgrade narsync") && !versionMessage.contains("\n"), "\(versionMessage)")

        try "10".write(toFile: schemaFile, atomically: true, encoding: .utf8)
        try Subprocess.checked("sqlite3", [layout.databasePath,
            "CREATE TABLE SchemaMigrations (migration text primary key not null); INSERT INTO SchemaMigrations VALUES ('20990101-from-the-future');"])
        let migration = #expect(throws: StoreDatabaseError.self) { try StoreDatabase(layout: layout) }
        #expect("\(migration!)".contains("20990101-from-the-future") && "\(migration!)".contains(layout.databasePath), "\(migration!)")

        // The commands refuse the store with that message, publishing nothing.
        let key = try nix.generateKey(name: "schema-1")
        let backfill = try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", "file://\(nix.directory.appending("cache-out"))", "--key-file", key.secretKeyFile,
            "--store-root", nix.storeRoot, "--all",
        ], environment: nix.environment)
        #expect(backfill.status != 0)
        #expect(backfill.standardError.contains("20990101-from-the-future"), "\(backfill.standardError)")
        #expect(!FileManager.default.fileExists(atPath: nix.directory.appending("cache-out/nix-cache-info")))
    }
}

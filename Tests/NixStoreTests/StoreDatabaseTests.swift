import Foundation
import Testing
import TestSupport
@testable import NixStore

/// The database reader against what the real Nix says about the same store.
@Suite struct StoreDatabaseTests {
    let nix: NixEnvironment
    let closure: TestClosure

    init() throws {
        nix = try NixEnvironment()
        closure = try TestClosure.build(in: nix)
    }

    private var layout: StoreLayout { StoreLayout(root: nix.storeRoot) }

    private struct NixPathInfo: Decodable {
        var path: String
        var narHash: String
        var narSize: UInt64
        var references: [String]
        var deriver: String?
        var registrationTime: Int64
        var ultimate: Bool?
    }

    @Test func pathInfoAgreesWithNixPathInfo() throws {
        let database = try StoreDatabase(layout: layout)
        let json = try nix.run("nix", ["path-info", "--json", "--store", nix.storeRoot, "-r", closure.top]).outputBytes
        let expected = try JSONDecoder().decode([NixPathInfo].self, from: Data(json))
        #expect(expected.count == 6)
        for nixInfo in expected {
            let info = try #require(try database.pathInfo(try StoreDirectory.standard.parsePath(nixInfo.path)))
            #expect(info.narHash.sri == nixInfo.narHash)
            #expect(info.narSize == nixInfo.narSize)
            #expect(info.references.map { StoreDirectory.standard.fullPath(of: $0) } == nixInfo.references.sorted())
            #expect(info.deriver.map { StoreDirectory.standard.fullPath(of: $0) } == nixInfo.deriver)
            #expect(info.registrationTime == nixInfo.registrationTime)
            #expect(info.ultimate == (nixInfo.ultimate ?? false))
        }
    }

    @Test func closureEqualsNixStoreQueryRequisites() throws {
        let database = try StoreDatabase(layout: layout)
        let top = try StoreDirectory.standard.parsePath(closure.top)
        let ours = Set(try database.closure(of: [top]).keys.map { StoreDirectory.standard.fullPath(of: $0) })
        #expect(ours == (try nix.closure(of: closure.top)))
    }

    @Test func dependencyOrderPutsReferencesFirstAndAllowsSelfReferences() throws {
        let database = try StoreDatabase(layout: layout)
        let top = try StoreDirectory.standard.parsePath(closure.top)
        let infos = try database.closure(of: [top])
        #expect(infos[top]!.references.contains(top), "the fixture's top refers to itself")
        let ordered = dependencyOrder(infos)
        #expect(ordered.count == infos.count)
        let position = Dictionary(uniqueKeysWithValues: ordered.enumerated().map { ($1.path, $0) })
        for info in ordered {
            for dependency in info.dependencies {
                #expect(position[dependency]! < position[info.path]!, "\(dependency) must come before \(info.path)")
            }
        }
        #expect(ordered.last?.path == top)
    }

    @Test func allPathsMatchesClosureRowsAndNewestID() throws {
        let database = try StoreDatabase(layout: layout)
        let all = try database.allPaths()
        // The store also holds the .drv files and their sources.
        #expect(all.count > 6)
        #expect(try database.newestID() == all.map(\.id).max())
        let top = try StoreDirectory.standard.parsePath(closure.top)
        #expect(all.first { $0.path == top } == (try database.pathInfo(top)))
    }

    @Test func aPathThatIsNotValidIsAnErrorNamingIt() throws {
        let database = try StoreDatabase(layout: layout)
        let missing = try StorePath(baseName: "00000000000000000000000000000000-not-there")
        #expect(try database.pathInfo(missing) == nil)
        let error = #expect(throws: StoreDatabaseError.self) { try database.closure(of: [missing]) }
        #expect("\(error!)".contains("/nix/store/00000000000000000000000000000000-not-there"))
    }

    @Test func seesRowsNixCommitsWhileTheConnectionIsOpen() throws {
        let database = try StoreDatabase(layout: layout)
        let before = try database.newestID()
        let file = nix.directory.appending("fresh.txt")
        try "fresh \(UUID())".write(toFile: file, atomically: true, encoding: .utf8)
        let added = try nix.add(file)
        let after = try database.paths(after: before)
        #expect(after.map { StoreDirectory.standard.fullPath(of: $0.path) } == [added])
        #expect(try database.newestID() > before)
    }

    @Test func aMissingDatabaseIsAnErrorNamingTheFile() throws {
        let empty = try TemporaryDirectory()
        let error = #expect(throws: StoreDatabaseError.self) { try StoreDatabase(layout: StoreLayout(root: empty.path)) }
        #expect("\(error!)".contains("\(empty.path)/nix/var/nix/db/db.sqlite"))
    }
}

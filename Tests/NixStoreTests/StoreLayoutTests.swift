import Testing
@testable import NixStore

@Suite struct StoreLayoutTests {
    let path = try! StorePath(baseName: "00rn9ycyln9km24xqsq6y3bd5njkazsv-dep")

    @Test func theMachinesOwnStore() {
        let layout = StoreLayout()
        #expect(layout.physicalPath(of: path) == "/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-dep")
        #expect(layout.databasePath == "/nix/var/nix/db/db.sqlite")
    }

    @Test func aChrootStoreKeepsLogicalNamesUnderItsRoot() {
        let layout = StoreLayout(root: "/tmp/root/")
        #expect(layout.physicalPath(of: path) == "/tmp/root/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-dep")
        #expect(layout.databaseDirectory == "/tmp/root/nix/var/nix/db")
    }
}

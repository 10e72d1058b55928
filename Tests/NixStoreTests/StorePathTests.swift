import Testing
@testable import NixStore
import TestSupport

@Suite struct StorePathTests {
    /// Asks Nix to make a store path named `name`; its full path, or nil if Nix refuses the name.
    private func nixStorePath(named name: String, in nix: NixEnvironment) throws -> String? {
        let literal = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "$", with: "\\$").replacingOccurrences(of: "\n", with: "\\n")
        let result = try nix.attempt("nix", ["eval", "--raw", "--store", nix.storeRoot, "--expr", "builtins.toFile \"\(literal)\" \"x\""])
        return result.status == 0 ? result.standardOutput : nil
    }

    @Test func acceptsExactlyTheNamesNixAccepts() throws {
        let nix = try NixEnvironment()
        let names = ["hello-2.12", "a?=+_.-b", "-", ".", "..", ".hidden", "A.B", String(repeating: "x", count: 211),
                     "", "a b", "a@b", "a/b", "é", "a\nb", "a:b", String(repeating: "x", count: 212)]
        let someHash = "00rn9ycyln9km24xqsq6y3bd5njkazsv"
        for name in names {
            let fromNix = try nixStorePath(named: name, in: nix)
            let ours = Result { try StorePath(baseName: "\(someHash)-\(name)") }
            #expect((fromNix != nil) == ((try? ours.get()) != nil), "Nix and narsync disagree on the name '\(name)'")
            if let fromNix {
                let parsed = try StoreDirectory.standard.parsePath(fromNix)
                #expect(StoreDirectory.standard.fullPath(of: parsed) == fromNix)
                #expect(parsed.name == name)
                #expect(parsed.hashPart == fromNix.dropFirst("/nix/store/".count).prefix(32))
            }
        }
    }

    @Test func refusesHashPartsThatAreNotNix32() throws {
        let valid = "00rn9ycyln9km24xqsq6y3bd5njkazsv-dep"
        #expect(try StorePath(baseName: valid).baseName == valid)
        for character in ["e", "o", "u", "t", "A", "_"] {
            #expect(throws: StorePathError.self) { try StorePath(baseName: character + valid.dropFirst()) }
        }
        #expect(throws: StorePathError.self) { try StorePath(baseName: String(valid.dropFirst())) }
        #expect(throws: StorePathError.self) { try StorePath(baseName: "00rn9ycyln9km24xqsq6y3bd5njkazsv") }
        #expect(throws: StorePathError.self) { try StorePath(baseName: "00rn9ycyln9km24xqsq6y3bd5njkazsv-") }
    }

    @Test func parsesFullPathsOnlyDirectlyUnderTheStoreDirectory() throws {
        let store = try StoreDirectory("/nix/store")
        let path = try store.parsePath("/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-dep")
        #expect(path.baseName == "00rn9ycyln9km24xqsq6y3bd5njkazsv-dep")
        #expect(path.name == "dep")
        #expect(!path.isDerivation)
        #expect(try store.parsePath("/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-dep.drv").isDerivation)
        #expect(throws: StorePathError.self) { try store.parsePath("/other/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-dep") }
        #expect(throws: StorePathError.self) { try store.parsePath("/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-dep/bin") }
        #expect(throws: StorePathError.self) { try StoreDirectory("nix/store") }
        #expect(throws: StorePathError.self) { try StoreDirectory("/nix/store/") }
        #expect(throws: StorePathError.self) { try StoreDirectory("/nix/../store") }
    }

    /// Found by fuzz/run store-path: a store directory's control characters reached the message.
    @Test func errorsEscapeTheStoreDirectorysControlCharacters() throws {
        let store = try StoreDirectory("/nix\u{1b}[1m/store")
        let error = #expect(throws: StorePathError.self) { try store.parsePath("/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-dep") }
        let description = error.map { "\($0)" } ?? ""
        #expect(!description.unicodeScalars.contains { $0.value < 0x20 }, "\(description.debugDescription)")
    }

    @Test func ordersBytewiseAsNixSetsDo() throws {
        let hash = "00rn9ycyln9km24xqsq6y3bd5njkazsv"
        let paths = try ["b", "a.b", "B", "a", "a-b", "_"].map { try StorePath(baseName: "\(hash)-\($0)") }
        #expect(paths.sorted().map(\.name) == ["B", "_", "a", "a-b", "a.b", "b"])
    }
}

import Foundation
import NixStore
import Testing
import TestSupport
@testable import Hook

@Suite struct HookDerivationOutputsTests {
    let store = StoreDirectory.standard

    @Test func readsTheOutputsNixRecordsForAMultiOutputDerivation() throws {
        let nix = try NixEnvironment()
        let file = nix.directory.appending("multi.nix")
        try """
            derivation { name = "multi"; system = builtins.currentSystem; builder = "/bin/sh";
              outputs = [ "out" "dev" "man" ]; salt = "\(UUID().uuidString)";
              note = "quotes \\" and \\\\ backslashes\\nand newlines"; args = [ "-c" "exit 1" ]; }
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let derivation = try nix.run("nix-instantiate", ["--store", nix.storeRoot, file]).trimmedOutput
        let expected = try nix.run("nix-store", ["--store", nix.storeRoot, "--query", "--outputs", derivation])
            .trimmedOutput.split(separator: "\n").map(String.init)

        let outputs = try DerivationOutputs.read(nix.physicalPath(of: derivation), storeDirectory: store)
        #expect(Set(outputs.map(store.fullPath(of:))) == Set(expected))
        #expect(outputs.count == 3)
    }

    @Test(arguments: [
        "",
        "not a derivation",
        "Derive([(\"out\",\"/etc/passwd\",\"\",\"\")],[],[],\"x\",\"/bin/sh\",[],[])",
        "Derive([(\"out\",\"/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\",\"\"",
        "Derive([(\"out\",\"/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a",
    ])
    func refusesWhatIsNotADerivation(text: String) {
        #expect(throws: (any Error).self) {
            try DerivationOutputs.parse(ArraySlice(text.utf8), storeDirectory: store, file: "test.drv")
        }
    }

    @Test func skipsOutputsWithoutAPathYet() throws {
        let text = "Derive([(\"out\",\"\",\"r:sha256\",\"\"),(\"dev\",\"/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a-dev\",\"\",\"\")],[],[])"
        let outputs = try DerivationOutputs.parse(ArraySlice(text.utf8), storeDirectory: store, file: "test.drv")
        #expect(outputs.map(\.baseName) == ["00rn9ycyln9km24xqsq6y3bd5njkazsv-a-dev"])
    }
}

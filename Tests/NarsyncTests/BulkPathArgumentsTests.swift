import Testing
@testable import narsync

@Suite struct BulkPathArgumentsTests {
    @Test func pathsAfterOptionNamesStayForTheParser() {
        let (parsed, paths) = BulkPathArguments.split([
            "backfill", "--to", "file:///c", "--key-file", "/k", "/nix/store/a", "/nix/store/b", "--repair", "/nix/store/c",
            "--store-root=/r", "/nix/store/d", "-h", "/x",
        ])
        // "/k" and "/x" may be option values, "/nix/store/c" follows a flag the splitter cannot
        // tell from an option: all stay, as does the first path, so the parser sees paths were given.
        #expect(parsed == ["backfill", "--to", "file:///c", "--key-file", "/k", "/nix/store/a", "--repair", "/nix/store/c",
                           "--store-root=/r", "-h", "/x"])
        #expect(paths == ["/nix/store/b", "/nix/store/d"])
    }

    @Test func afterTheTerminatorEveryPathIsAPath() {
        let (parsed, paths) = BulkPathArguments.split(["backfill", "--", "/nix/store/a", "/nix/store/b", "--", "/nix/store/c"])
        #expect(parsed == ["backfill", "--", "/nix/store/a", "--"])
        #expect(paths == ["/nix/store/b", "/nix/store/c"])
    }

    @Test func withoutPathsNothingChanges() {
        let arguments = ["backfill", "--all", "--to", "file:///c"]
        #expect(BulkPathArguments.split(arguments) == (arguments, []))
    }
}

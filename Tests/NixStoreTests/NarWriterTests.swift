import Foundation
import Testing
@testable import NixStore
import TestSupport

@Suite struct NarWriterTests {
    /// The NAR narsync writes for `root`, and the largest chunk the sink was given.
    private func narsyncNAR(of root: String, chunkSize: Int = 256 * 1024) throws -> (bytes: [UInt8], largestChunk: Int) {
        var bytes: [UInt8] = []
        var largestChunk = 0
        try NarWriter(root: root, chunkSize: chunkSize).write { chunk in
            bytes.append(contentsOf: chunk)
            largestChunk = max(largestChunk, chunk.count)
        }
        return (bytes, largestChunk)
    }

    /// The offset of the first byte where `a` and `b` differ, nil if they are equal (memcmp:
    /// comparing megabytes element by element is slow in debug builds).
    private func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
        let same = a.count == b.count && a.withUnsafeBytes { a in b.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
        return same ? nil : (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
    }

    @Test func fixtureTreeIsByteIdenticalToNixStoreDump() throws {
        let nix = try NixEnvironment()
        let root = try FixtureTree.make(at: nix.directory.appending("tree"))
        let expected = try nix.run("nix-store", ["--dump", root]).outputBytes
        #expect(expected.count > FixtureTree.largeFileSize)
        // Chunk sizes that split tokens, padding and file contents at every kind of boundary.
        for chunkSize in [7, 4093, 64 * 1024, 256 * 1024] {
            let ours = try narsyncNAR(of: root, chunkSize: chunkSize)
            #expect(ours.bytes.count == expected.count, "chunk size \(chunkSize)")
            #expect(firstDifference(ours.bytes, expected) == nil, "chunk size \(chunkSize): the NAR differs from nix-store --dump")
            #expect(ours.largestChunk == chunkSize)
        }
    }

    @Test func narHashAndSizeEqualWhatNixRecordsForTheAddedPath() throws {
        let nix = try NixEnvironment()
        let root = try FixtureTree.make(at: nix.directory.appending("tree"))
        let storePath = try nix.add(root)
        let recorded = try nix.pathInfo(storePath)
        let fromTree = try NarWriter(root: root).hashAndSize()
        let fromStore = try NarWriter(root: nix.physicalPath(of: storePath)).hashAndSize()
        #expect(fromTree.narHash.sri == recorded.narHash)
        #expect(fromTree.narSize == recorded.narSize)
        #expect(fromStore.narHash == fromTree.narHash)
        #expect(fromStore.narSize == fromTree.narSize)
        let hashColumn = try nix.run("nix-store", ["--store", nix.storeRoot, "-q", "--hash", storePath]).trimmedOutput
        #expect(try NixHash(parsing: hashColumn) == fromTree.narHash)
        let sizeColumn = try nix.run("nix-store", ["--store", nix.storeRoot, "-q", "--size", storePath]).trimmedOutput
        #expect(UInt64(sizeColumn) == fromTree.narSize)
    }

    @Test func rootsThatAreAFileOrASymlinkMatchNix() throws {
        let nix = try NixEnvironment()
        let root = try FixtureTree.make(at: nix.directory.appending("tree"))
        for path in ["\(root)/sizes/size-9", "\(root)/bin/tool", "\(root)/bin/group-executable-only", "\(root)/empty",
                     "\(root)/links/dangling", "\(root)/links/to-directory", "\(root)/empty-directory"] {
            let expected = try nix.run("nix-store", ["--dump", path]).outputBytes
            #expect(firstDifference(try narsyncNAR(of: path, chunkSize: 1).bytes, expected) == nil, "\(path)")
        }
    }

    @Test func refusesFilesANARCannotHoldNamingThem() throws {
        let nix = try NixEnvironment()
        let root = nix.directory.appending("tree")
        try FileManager.default.createDirectory(atPath: "\(root)/sub", withIntermediateDirectories: true)
        #expect(mkfifo("\(root)/sub/pipe", 0o644) == 0)
        #expect(throws: NarError.unsupportedFileType(path: "\(root)/sub/pipe")) { try narsyncNAR(of: root) }
        #expect(NarError.unsupportedFileType(path: "\(root)/sub/pipe").description.contains("\(root)/sub/pipe"))
        // Nix refuses it too.
        #expect(try nix.attempt("nix-store", ["--dump", root]).status != 0)
    }

    @Test func missingRootIsAnErrorNamingIt() throws {
        let directory = try TemporaryDirectory()
        let missing = directory.appending("missing")
        #expect {
            try NarWriter(root: missing).write { _ in }
        } throws: { error in
            "\(error)".contains(missing)
        }
    }

    @Test func stopsAtTheFirstSinkError() throws {
        struct SinkFull: Error {}
        let directory = try TemporaryDirectory()
        let root = try FixtureTree.make(at: directory.appending("tree"))
        var calls = 0
        #expect(throws: SinkFull.self) {
            try NarWriter(root: root, chunkSize: 4096).write { _ in
                calls += 1
                if calls == 3 { throw SinkFull() }
            }
        }
        #expect(calls == 3)
    }
}

import Foundation
import SystemSupport
import Testing
import TestSupport

@Suite struct AtomicFileTests {
    @Test(arguments: ["/srv/cache/nar/x.nar.zst", "/srv/cache/", "/x", "/", "a/b", "/a//b"])
    func splitsPathsAsFoundationDoes(path: String) {
        let (directory, name) = splitPath(path)
        #expect(directory == (path as NSString).deletingLastPathComponent, "\(path)")
        if path != "/" { #expect(name == (path as NSString).lastPathComponent, "\(path)") }
    }

    /// Where Foundation 6.3 traps (`("x" as NSString).deletingLastPathComponent`).
    @Test func aNameAloneHasNoDirectory() {
        #expect(splitPath("x") == ("", "x"))
    }

    @Test func aFileIsVisibleOnlyOnceCommittedAndDurablyOrNot() throws {
        let directory = try TemporaryDirectory()
        for durable in [true, false] {
            let path = directory.appending("file-\(durable)")
            let writer = try AtomicFileWriter(path: path, mode: 0o600)
            try writer.write(Array("contents".utf8))
            #expect(!FileManager.default.fileExists(atPath: path))
            try writer.commit(durable: durable)
            #expect(FileManager.default.contents(atPath: path) == Data("contents".utf8))
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["file-false", "file-true"])
        try FileSystemSync(directory: directory.path).sync()
    }
}

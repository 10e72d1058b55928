import Foundation
import Testing
import TestSupport
@testable import BinaryCache

@Suite struct FileDestinationTests {
    @Test func objectsAppearOnlyWhenCommitted() throws {
        let directory = try TemporaryDirectory()
        let destination = try FileDestination(directory: directory.appending("cache"))
        let upload = try destination.beginUpload(key: "nar/abc.nar.zst", contentType: ContentType.nar, journal: nil)
        try Array("first half ".utf8).withUnsafeBytes { try upload.write($0) }
        #expect(try !destination.exists(key: "nar/abc.nar.zst"), "a half-written object must not be visible")
        try Array("second half".utf8).withUnsafeBytes { try upload.write($0) }
        try upload.commit()
        #expect(try destination.read(key: "nar/abc.nar.zst") == Array("first half second half".utf8))
        // No temporary file is left next to it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appending("cache/nar")) == ["abc.nar.zst"])
    }

    @Test func abortLeavesNothingBehind() throws {
        let directory = try TemporaryDirectory()
        let destination = try FileDestination(directory: directory.path)
        let upload = try destination.beginUpload(key: "nar/x.nar.zst", contentType: ContentType.nar, journal: nil)
        try Array("partial".utf8).withUnsafeBytes { try upload.write($0) }
        upload.abort()
        #expect(try !destination.exists(key: "nar/x.nar.zst"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.appending("nar")).isEmpty)
    }

    @Test func putReadAndListNarInfos() throws {
        let directory = try TemporaryDirectory()
        let destination = try FileDestination(directory: directory.path)
        #expect(try destination.read(key: "a.narinfo") == nil)
        try destination.put(key: "a.narinfo", contents: Array("A".utf8), contentType: ContentType.narInfo)
        try destination.put(key: "b.narinfo", contents: Array("B".utf8), contentType: ContentType.narInfo)
        try destination.put(key: "nix-cache-info", contents: Array("C".utf8), contentType: ContentType.cacheInfo)
        try destination.put(key: "a.narinfo", contents: Array("A2".utf8), contentType: ContentType.narInfo)
        #expect(try destination.read(key: "a.narinfo") == Array("A2".utf8))
        #expect(try destination.listKeys(suffix: ".narinfo") == ["a.narinfo", "b.narinfo"])
    }

    /// A NAR removed before its narinfo's group is flushed (someone cleaning the cache) does
    /// not stop that group, nor every later one.
    @Test func aNarRemovedBeforeTheFlushDoesNotStopTheNarInfos() throws {
        let directory = try TemporaryDirectory()
        let destination = try FileDestination(directory: directory.path)
        let upload = try destination.beginUpload(key: "nar/gone.nar.zst", contentType: ContentType.nar, journal: nil)
        try Array("nar".utf8).withUnsafeBytes { try upload.write($0) }
        try upload.commit()
        try FileManager.default.removeItem(atPath: directory.appending("nar/gone.nar.zst"))
        try destination.putGroup([SmallObject(key: "a.narinfo", contents: Array("A".utf8), contentType: ContentType.narInfo)])
        try destination.putGroup([SmallObject(key: "b.narinfo", contents: Array("B".utf8), contentType: ContentType.narInfo)])
        #expect(try destination.listKeys(suffix: ".narinfo") == ["a.narinfo", "b.narinfo"])
    }

    @Test func anUnwritableDirectoryIsRefusedUpFront() throws {
        let directory = try TemporaryDirectory()
        let file = directory.appending("not-a-directory")
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: DestinationError.self) { try FileDestination(directory: file + "/cache") }
        #expect("\(error!)".contains(file))
    }

    @Test func urlsOpenTheRightDestination() throws {
        let directory = try TemporaryDirectory()
        let destination = try Destinations.open("file://\(directory.path)/c?compression=zstd")
        #expect("\(destination)" == "file://\(directory.path)/c")
        #expect(throws: DestinationError.self) { try Destinations.open("ftp://example/cache") }
        #expect(throws: DestinationError.self) { try Destinations.open("not a url") }
    }
}

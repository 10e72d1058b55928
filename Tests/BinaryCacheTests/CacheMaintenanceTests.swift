@testable import BinaryCache
import Foundation
import SystemSupport
import Testing
import TestSupport

/// What `verify` and `gc` ask of a destination, on a directory and on a bucket (moto): a
/// listing with sizes and ages, HEAD/stat, ranged reads, deletion, renewal, and uploads left
/// in flight.
struct CacheMaintenanceTests {
    /// The same checks on any destination; `settle` waits for a whole-second clock to move.
    static func exercise(_ destination: any CacheMaintenance, settle: Duration) throws {
        let bytes = (0..<3000).map { UInt8($0 % 251) }
        try destination.put(key: "nar/a.nar.zst", contents: bytes, contentType: ContentType.nar)
        try destination.put(key: "abc.narinfo", contents: Array("StorePath: x\n".utf8), contentType: ContentType.narInfo)

        let listed = try #require(try destination.listObjects())
        #expect(Set(listed.map(\.key)).isSuperset(of: ["nar/a.nar.zst", "abc.narinfo"]))
        #expect(listed.first { $0.key == "nar/a.nar.zst" }?.size == 3000)
        let info = try #require(try destination.objectInfo(key: "nar/a.nar.zst"))
        #expect(info.size == 3000)
        #expect(abs(info.modified.timeIntervalSinceNow) < 60, "\(info.modified)")
        #expect(try destination.objectInfo(key: "nar/none.nar.zst") == nil)

        #expect(try destination.readRange(key: "nar/a.nar.zst", offset: 1000, length: 500) == Array(bytes[1000..<1500]))
        #expect(try destination.readRange(key: "nar/a.nar.zst", offset: 2900, length: 500) == Array(bytes[2900...]))
        #expect(try destination.readRange(key: "nar/a.nar.zst", offset: 3000, length: 500) == [])
        #expect(try destination.readRange(key: "nar/none.nar.zst", offset: 0, length: 10) == nil)

        let before = try #require(try destination.objectInfo(key: "abc.narinfo")).modified
        Thread.sleep(forTimeInterval: settle.timeInterval)
        #expect(try destination.renew(key: "abc.narinfo"))
        let after = try #require(try destination.objectInfo(key: "abc.narinfo"))
        #expect(after.modified > before)
        #expect(try destination.read(key: "abc.narinfo") == Array("StorePath: x\n".utf8), "a renewal keeps the contents")
        #expect(try !destination.renew(key: "gone.narinfo"))

        try destination.delete(key: "abc.narinfo")
        try destination.delete(key: "abc.narinfo")  // not there: not an error
        #expect(try destination.objectInfo(key: "abc.narinfo") == nil)
    }

    @Test func aDirectory() throws {
        let directory = try TemporaryDirectory()
        let destination = try FileDestination(directory: directory.path)
        try Self.exercise(destination, settle: .milliseconds(20))
        // A write that never finished leaves its temporary file: an upload in flight.
        let writer = try AtomicFileWriter(path: directory.appending("nar/b.nar.zst"))
        try writer.write([1, 2, 3])
        let uploads = try destination.incompleteUploads()
        #expect(uploads.map(\.key) == ["nar/b.nar.zst"])
        #expect(uploads.first?.size == 3)
        try destination.abort(uploads[0])
        #expect(try destination.incompleteUploads().isEmpty)
        #expect(try destination.listObjects()?.contains { $0.key.contains(".tmp-") } == false)
    }

    @Test func s3DatesParse() {
        #expect(AWSTimestamp.parse("2026-12-06T05:00:01.250Z") == Date(timeIntervalSince1970: 1_796_533_201.25))
        #expect(HTTPDates.parseRFC1123("Sun, 06 Dec 2026 05:00:01 GMT") == Date(timeIntervalSince1970: 1_796_533_201))
        #expect(AWSTimestamp.parse("yesterday") == nil)
    }
}

/// `CacheMaintenanceTests` on a bucket (moto and Ceph RGW).
@Suite(.moto) struct BucketMaintenanceTests {
    @Test(arguments: S3Backend.tested) func aBucket(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let destination = try s3.makeBucket()
        // S3 times have whole seconds.
        try CacheMaintenanceTests.exercise(destination, settle: .milliseconds(1100))
        let upload = try destination.client.createMultipartUpload(key: "nar/c.nar.zst", headers: [("content-type", ContentType.nar)]).uploadID
        let uploads = try destination.incompleteUploads()
        #expect(uploads.map { $0.id } == [upload])
        // moto answers a fixed Initiated (2010-11-10); S3 and RGW the upload's start.
        #expect(uploads[0].started < Date() && uploads[0].started > Date(timeIntervalSince1970: 0))
        try destination.abort(uploads[0])
        #expect(try destination.incompleteUploads().isEmpty)
    }
}

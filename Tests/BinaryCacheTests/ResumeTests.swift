@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// Multipart uploads with a journal: an interrupted upload's stored parts are kept, and a
/// later upload of the same key sends only what is missing.
@Suite(.moto) struct ResumeTests {
    /// Writes three and a half parts with one part in flight at a time, so that the first
    /// parts are journaled before the next is sent, then stops as a killed narsync would.
    func interruptedUpload(of bytes: [UInt8], key: String, journal: InMemoryJournal, s3: SharedS3) throws -> S3Destination {
        let destination = try s3.makeBucket(options: s3.options { $0.partsInFlight = 1 })
        let upload = try destination.beginUpload(key: key, contentType: ContentType.nar, journal: journal)
        try stream(Array(bytes.prefix(17 << 20)), into: upload, commit: false)
        upload.abort()
        return destination
    }

    @Test(arguments: S3Backend.tested) func resumedUploadSendsOnlyTheMissingParts(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let journal = InMemoryJournal()
        let key = "nar/resumed.nar.zst"
        let bytes = pseudoRandomBytes(23 << 20, seed: 10)  // five parts: 5 5 5 5 3 MiB
        let first = try interruptedUpload(of: bytes, key: key, journal: journal, s3: s3)
        let stored = try #require(journal.unfinishedUpload(key: key))
        #expect(stored.parts.count >= 2)
        #expect(try first.multipartUploads().map(\.uploadID) == [stored.uploadID])

        // A new run: another destination, the same journal and the same bytes.
        let second = try S3Destination(url: s3.url(bucket: first.location.bucket), options: s3.options())
        try stream(bytes, into: second.beginUpload(key: key, contentType: ContentType.nar, journal: journal))
        #expect(second.statistics.partsReused == stored.parts.count)
        #expect(second.statistics.uploadsResumed == 1)
        let missing = bytes.count - stored.parts.reduce(0) { $0 + $1.size }
        // The missing parts, and the few hundred bytes of the completion request.
        #expect((missing..<missing + 4096).contains(second.statistics.bytesSent))
        #expect(try second.read(key: key) == bytes)
        #expect(journal.unfinishedUpload(key: key) == nil)
        #expect(try second.multipartUploads().isEmpty)
    }

    @Test(arguments: S3Backend.tested) func resumedUploadWithOtherBytesStartsAfresh(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let journal = InMemoryJournal()
        let key = "nar/changed.nar.zst"
        let first = try interruptedUpload(of: pseudoRandomBytes(23 << 20, seed: 11), key: key, journal: journal, s3: s3)
        let old = try #require(journal.unfinishedUpload(key: key))

        let other = pseudoRandomBytes(12 << 20, seed: 12)
        try stream(other, into: first.beginUpload(key: key, contentType: ContentType.nar, journal: journal))
        #expect(first.statistics.partsReused == 0)
        #expect(first.statistics.uploadsResumed == 0)
        #expect(try first.read(key: key) == other)
        // The old upload was aborted, not left to linger.
        #expect(try first.multipartUploads().allSatisfy { $0.uploadID != old.uploadID })
        #expect(try first.multipartUploads().isEmpty)
        #expect(journal.unfinishedUpload(key: key) == nil)
    }

    @Test(arguments: S3Backend.tested) func journalOutlivingItsUploadIsIgnored(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let journal = InMemoryJournal()
        let key = "nar/expired.nar.zst"
        let destination = try interruptedUpload(of: pseudoRandomBytes(23 << 20, seed: 13), key: key, journal: journal, s3: s3)
        // The bucket's lifecycle rule (here: someone else) aborted the upload meanwhile.
        let old = try #require(journal.unfinishedUpload(key: key))
        try destination.client.abortMultipartUpload(key: key, uploadID: old.uploadID)

        let bytes = pseudoRandomBytes(11 << 20, seed: 14)
        try stream(bytes, into: destination.beginUpload(key: key, contentType: ContentType.nar, journal: journal))
        #expect(destination.statistics.partsReused == 0)
        #expect(try destination.read(key: key) == bytes)
        #expect(journal.unfinishedUpload(key: key) == nil)
    }

    /// Found by the crash-loop campaign: the parts stored while an upload waited for its last
    /// part were journaled only once all had finished, so a kill in that wait sent them again.
    @Test(arguments: S3Backend.tested) func partsStoredWhileTheLastIsOnItsWayAreJournaledAtOnce(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let bucket = try s3.makeBucket().location.bucket
        // Parts 1-3 take a moment, so that all are in flight when the upload commits; part 4 long.
        let proxy = try FaultProxy(upstreamPort: s3.server.port) { _, method, target in
            guard method == "PUT", target.contains("partNumber=") else { return nil }
            return .delay(target.contains("partNumber=4&") || target.hasSuffix("partNumber=4") ? .seconds(4) : .milliseconds(300))
        }
        defer { proxy.stop() }
        let destination = try S3Destination(url: s3.url(bucket: bucket, port: proxy.port), options: s3.options())
        let journal = InMemoryJournal()
        let key = "nar/waiting.nar.zst"
        let bytes = pseudoRandomBytes(18 << 20, seed: 15)  // four parts: 5 5 5 3 MiB
        // Only the committing thread touches the upload once it starts.
        nonisolated(unsafe) let upload = try destination.beginUpload(key: key, contentType: ContentType.nar, journal: journal)
        try stream(bytes, into: upload, commit: false)
        let committed = Recorder<Bool>()
        let committing = Thread { committed.record((try? upload.commit()) != nil) }
        committing.start()
        // While part 4 is on its way, the other three are in the journal.
        #expect(eventually(timeout: .seconds(3)) { journal.unfinishedUpload(key: key)?.parts.count == 3 })
        #expect(committed.recorded.isEmpty)
        #expect(committed.wait(forCount: 1, timeout: 20) == [true])
        #expect(try destination.read(key: key) == bytes)
        #expect(journal.unfinishedUpload(key: key) == nil)
    }

    /// Found by the crash-loop campaign: parts stored while the upload was still producing
    /// its next part were journaled only when that part went out.
    @Test(arguments: S3Backend.tested) func partsStoredWhileTheNextIsProducedAreJournaledAtTheNextWrite(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let bucket = try s3.makeBucket().location.bucket
        let proxy = try FaultProxy(upstreamPort: s3.server.port) { _, method, target in
            method == "PUT" && target.contains("partNumber=") ? .delay(.milliseconds(300)) : nil
        }
        defer { proxy.stop() }
        let destination = try S3Destination(url: s3.url(bucket: bucket, port: proxy.port), options: s3.options())
        let journal = InMemoryJournal()
        let key = "nar/producing.nar.zst"
        let bytes = pseudoRandomBytes(18 << 20, seed: 16)
        let upload = try destination.beginUpload(key: key, contentType: ContentType.nar, journal: journal)
        try stream(Array(bytes.prefix(15 << 20)), into: upload, commit: false)  // parts 1-3 go out
        #expect(eventually(timeout: .seconds(10)) { proxy.requests.filter { $0.target.contains("partNumber=") && $0.status == 200 }.count == 3 })
        usleep(200_000)  // curl has handed the answers over
        try bytes[(15 << 20)..<(15 << 20) + 1].withUnsafeBytes { try upload.write($0) }
        #expect(journal.unfinishedUpload(key: key)?.parts.map(\.number) == [1, 2, 3])
        try bytes[((15 << 20) + 1)...].withUnsafeBytes { try upload.write($0) }
        try upload.commit()
        #expect(try destination.read(key: key) == bytes)
    }

    /// Found by the crash-loop campaign: a run killed after S3 completed its upload, before it
    /// recorded so, left the next run to send the whole object again.
    @Test(arguments: S3Backend.tested) func uploadCompletedButNotRecordedIsNotSentAgain(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let journal = ForgetfulJournal()
        let key = "nar/completed.nar.zst"
        let bytes = pseudoRandomBytes(12 << 20, seed: 17)  // three parts: 5 5 2 MiB
        let first = try s3.makeBucket()
        try stream(bytes, into: first.beginUpload(key: key, contentType: ContentType.nar, journal: journal))
        #expect(journal.unfinishedUpload(key: key)?.parts.count == 3)

        journal.forgetsEnds = false
        let second = try S3Destination(url: s3.url(bucket: first.location.bucket), options: s3.options())
        try stream(bytes, into: second.beginUpload(key: key, contentType: ContentType.nar, journal: journal))
        #expect(second.statistics.partsReused == 3)
        #expect(second.statistics.bytesSent == 0)
        #expect(try second.read(key: key) == bytes)
        #expect(journal.unfinishedUpload(key: key) == nil)

        // Other bytes under the key (say, another compression level) replace the object.
        let other = pseudoRandomBytes(11 << 20, seed: 18), replacement = Array(other.reversed())
        journal.forgetsEnds = true
        try stream(other, into: second.beginUpload(key: key, contentType: ContentType.nar, journal: journal))
        journal.forgetsEnds = false
        try stream(replacement, into: second.beginUpload(key: key, contentType: ContentType.nar, journal: journal))
        #expect(try second.read(key: key) == replacement)
        #expect(journal.unfinishedUpload(key: key) == nil)
        #expect(try second.multipartUploads().isEmpty)
    }
}

/// A journal that, while `forgetsEnds` is set, misses the end of uploads, as a narsync killed
/// between completing an upload and recording it does.
final class ForgetfulJournal: UploadJournal, @unchecked Sendable {
    private let journal = InMemoryJournal()
    private let lock = NSLock()
    private var forgetting = true

    var forgetsEnds: Bool {
        get { lock.withLock { forgetting } }
        set { lock.withLock { forgetting = newValue } }
    }

    func unfinishedUpload(key: String) -> UnfinishedUpload? { journal.unfinishedUpload(key: key) }
    func uploadStarted(key: String, uploadID: String, partSize: Int) { journal.uploadStarted(key: key, uploadID: uploadID, partSize: partSize) }
    func partStored(key: String, uploadID: String, part: StoredPart) { journal.partStored(key: key, uploadID: uploadID, part: part) }
    func uploadEnded(key: String, uploadID: String) { if !forgetsEnds { journal.uploadEnded(key: key, uploadID: uploadID) } }
}

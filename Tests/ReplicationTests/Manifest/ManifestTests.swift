import BinaryCache
import Foundation
import NixStore
import SQLite
import Testing
@testable import Replication
import TestSupport

@Suite struct ManifestTests {
    let directory: TemporaryDirectory
    let stateDirectory: String
    let cache = "s3://bucket?endpoint=http://127.0.0.1:9000"

    init() throws {
        directory = try TemporaryDirectory(prefix: "narsync-manifest")
        stateDirectory = directory.appending("state/narsync")
    }

    func open(retryPolicy: RetryPolicy = RetryPolicy()) throws -> Manifest {
        try Manifest(stateDirectory: stateDirectory, retryPolicy: retryPolicy)
    }

    // MARK: Schema

    @Test func migratesAnEmptyDirectoryToTheCurrentSchemaInWALMode() throws {
        _ = try open()
        let database = try SQLiteDatabase(path: "\(stateDirectory)/manifest.sqlite", mode: .readOnly)
        var version: Int64 = -1, journalMode = ""
        try database.query("PRAGMA user_version") { version = $0.int64(0) }
        try database.query("PRAGMA journal_mode") { journalMode = $0.string(0) }
        #expect(version == Int64(Manifest.schemaVersion))
        #expect(Manifest.schemaVersion >= 1)
        #expect(journalMode == "wal")
        // Opening again applies nothing and keeps the version.
        _ = try open()
        try database.query("PRAGMA user_version") { version = $0.int64(0) }
        #expect(version == Int64(Manifest.schemaVersion))
    }

    @Test func refusesAManifestFromANewerNarsync() throws {
        _ = try open()
        let database = try SQLiteDatabase(path: "\(stateDirectory)/manifest.sqlite", mode: .readWriteCreate)
        try database.execute("PRAGMA user_version = \(Manifest.schemaVersion + 1)")
        #expect(throws: ManifestError.schemaMismatch(path: "\(stateDirectory)/manifest.sqlite",
                                                     found: Manifest.schemaVersion + 1, expected: Manifest.schemaVersion)) {
            try open()
        }
    }

    @Test func readOnlyNeverCreatesAManifest() throws {
        #expect(throws: ManifestError.missing(path: "\(stateDirectory)/manifest.sqlite")) {
            try Manifest(stateDirectory: stateDirectory, mode: .readOnly)
        }
        #expect(!FileManager.default.fileExists(atPath: stateDirectory))
        try open().enqueue([queued(1)], for: cache)
        let reader = try Manifest(stateDirectory: stateDirectory, mode: .readOnly)
        #expect(try reader.status(for: cache).queued == 1)
    }

    // MARK: Destination identities

    @Test func recordsKeptUnderTheBucketAloneMoveToTheFirstIdentityOpened() throws {
        let manifest = try open()
        // As narsync kept an S3 destination before identities: by its bucket alone.
        let former = "s3://bucket"
        try manifest.enqueue([queued(1), queued(2)], for: former, advancingWatermarkTo: 42, now: epoch)
        try manifest.markPublished(published(1), for: former, now: epoch)
        try manifest.journal(for: former).uploadStarted(key: "nar/big.nar.zst", uploadID: "upload-1", partSize: 8 << 20)

        let first = try DestinationIdentity(parsing: "s3://bucket?endpoint=127.0.0.1:9000&scheme=http")
        let second = try DestinationIdentity(parsing: "s3://bucket?endpoint=127.0.0.1:9001&scheme=http")
        #expect(first.formerName == former && second.formerName == former)
        #expect(try manifest.migrateDestination(from: first.formerName, to: first.url))
        // The second destination on another endpoint starts with no records of its own.
        #expect(try !manifest.migrateDestination(from: second.formerName, to: second.url))
        #expect(try manifest.watermark(for: second.url) == nil)

        // Everything the former name had, now under the identity, and once only.
        #expect(try manifest.destinations() == [first.url])
        for reopened in [manifest, try open()] {
            #expect(try reopened.watermark(for: first.url) == 42)
            #expect(try reopened.queuedPaths(for: first.url) == [storePath(2)])
            #expect(try reopened.publishedRecord(of: storePath(1), for: first.url) == published(1))
            #expect(try reopened.journal(for: first.url).unfinishedUpload(key: "nar/big.nar.zst")?.uploadID == "upload-1")
            #expect(try reopened.watermark(for: former) == nil)
        }
        // Opening again moves nothing: the identity has its records.
        try open().enqueue([queued(3)], for: former, now: epoch)
        #expect(try !open().migrateDestination(from: first.formerName, to: first.url))
        #expect(try open().queuedPaths(for: first.url) == [storePath(2)])
    }

    @Test func aPathFoundInTheCacheIsRecordedWithoutFileDetails() throws {
        let manifest = try open()
        let found = PublishedPath(path: storePath(7), narSize: 300, nar: nil)
        try manifest.enqueue([queued(7)], for: cache, now: epoch)
        try manifest.markPublished([found, published(8)], for: cache, now: epoch)
        #expect(try manifest.publishedRecord(of: storePath(7), for: cache) == found)
        #expect(try manifest.publishedRecord(of: storePath(8), for: cache) == published(8))
        #expect(try manifest.queuedPaths(for: cache).isEmpty)
    }

    // MARK: Crash safety

    @Test func aCopyTakenWhileOpenHoldsEveryCompletedCall() throws {
        let manifest = try open()
        let journal = manifest.journal(for: cache)
        try manifest.enqueue([queued(1), queued(2), queued(3, .hook)], for: cache, advancingWatermarkTo: 42, now: epoch)
        try manifest.markFailed(storePath(2), for: cache, error: "HTTP 503 from bucket", now: epoch)
        try manifest.markPublished(published(1), for: cache, now: epoch)
        try journal.uploadStarted(key: "nar/big.nar.zst", uploadID: "upload-1", partSize: 8 << 20)
        try journal.partStored(key: "nar/big.nar.zst", uploadID: "upload-1", part: StoredPart(number: 1, etag: "\"e1\"", size: 8 << 20, sha256: "aa"))

        // The files as a crash would leave them: the connection still open, nothing checkpointed.
        let crashed = directory.appending("crashed")
        try FileManager.default.createDirectory(atPath: crashed, withIntermediateDirectories: true)
        for file in ["manifest.sqlite", "manifest.sqlite-wal"] {
            try FileManager.default.copyItem(atPath: "\(stateDirectory)/\(file)", toPath: "\(crashed)/\(file)")
        }
        let reopened = try Manifest(stateDirectory: crashed)
        try expectStateOfThisTest(in: reopened)
        // And after an orderly close.
        _ = manifest
        try expectStateOfThisTest(in: try open())
    }

    private func expectStateOfThisTest(in manifest: Manifest) throws {
        #expect(try manifest.watermark(for: cache) == 42)
        #expect(try manifest.queuedPaths(for: cache) == [storePath(3), storePath(2)])
        let failed = try #require(try manifest.nextBatch(for: cache, limit: 10, now: .distantFuture).last)
        #expect(failed.attempts == 1 && failed.lastError == "HTTP 503 from bucket")
        #expect(try manifest.publishedRecord(of: storePath(1), for: cache) == published(1))
        let upload = try #require(try manifest.journal(for: cache).unfinishedUpload(key: "nar/big.nar.zst"))
        #expect(upload.uploadID == "upload-1" && upload.partSize == 8 << 20)
        #expect(upload.parts == [StoredPart(number: 1, etag: "\"e1\"", size: 8 << 20, sha256: "aa")])
    }

    // MARK: Queue

    @Test func enqueueKeepsOneEntryPerPathWithTheHigherPriority() throws {
        let manifest = try open()
        #expect(try manifest.enqueue([queued(1, .backfill), queued(2, .watcher)], for: cache, now: epoch) == 2)
        #expect(try manifest.enqueue([queued(1, .hook, reason: "post-build-hook"), queued(2, .backfill), queued(2, .watcher)],
                                     for: cache, now: epoch) == 0)
        let entries = try manifest.nextBatch(for: cache, limit: 10, now: epoch)
        #expect(entries.map(\.path) == [storePath(1), storePath(2)])
        #expect(entries.map(\.priority) == [.hook, .watcher])
        #expect(entries[0].reason == "post-build-hook")
        #expect(entries[1].reason == "test")
        #expect(try manifest.status(for: cache).queued == 2)
    }

    @Test func batchesComeByPriorityThenEnqueueOrderAndOnlyWhenDue() throws {
        let manifest = try open(retryPolicy: RetryPolicy(initial: .seconds(60), jitter: 0))
        try manifest.enqueue([queued(1, .backfill), queued(2, .watcher), queued(3, .backfill)], for: cache, now: epoch)
        try manifest.enqueue([queued(4, .hook), queued(5, .watcher), queued(6, .hook)], for: cache, now: epoch)
        #expect(try manifest.queuedPaths(for: cache, now: epoch) == [4, 6, 2, 5, 1, 3].map { storePath($0) })
        #expect(try manifest.nextBatch(for: cache, limit: 2, now: epoch).map(\.path) == [storePath(4), storePath(6)])
        #expect(try manifest.nextBatch(for: cache, limit: 2, now: epoch, excluding: [storePath(4), storePath(6)]).map(\.path)
                == [storePath(2), storePath(5)])
        // Not before it is enqueued, and a failed path only once its backoff has passed.
        #expect(try manifest.nextBatch(for: cache, limit: 10, now: epoch - 1).isEmpty)
        try manifest.markFailed(storePath(4), for: cache, error: "timeout", now: epoch)
        #expect(try !manifest.queuedPaths(for: cache, now: epoch + 59).contains(storePath(4)))
        #expect(try manifest.queuedPaths(for: cache, now: epoch + 60).first == storePath(4))
    }

    @Test func failuresBackOffExponentiallyUpToTheCapAndAreNeverDropped() throws {
        let policy = RetryPolicy(initial: .seconds(10), maximum: .seconds(80), jitter: 0)
        let manifest = try open(retryPolicy: policy)
        try manifest.enqueue([queued(1)], for: cache, now: epoch)
        var waits: [TimeInterval] = []
        var now = epoch
        for attempt in 1...40 {
            let next = try #require(try manifest.markFailed(storePath(1), for: cache, error: "attempt \(attempt)", now: now))
            waits.append(next.timeIntervalSince(now))
            now = next
        }
        #expect(Array(waits.prefix(6)) == [10, 20, 40, 80, 80, 80])
        #expect(waits.allSatisfy { $0 <= 80 })
        let entry = try #require(try manifest.nextBatch(for: cache, limit: 1, now: now).first)
        #expect(entry.path == storePath(1) && entry.attempts == 40 && entry.lastError == "attempt 40")
        #expect(try manifest.markFailed(storePath(99), for: cache, error: "not queued", now: now) == nil)
    }

    @Test func jitterShortensTheWaitByAtMostItsFraction() {
        let policy = RetryPolicy(initial: .seconds(10), maximum: .seconds(3600), jitter: 0.5)
        #expect(policy.delay(afterAttempts: 3, randomFraction: 0) == .seconds(40))
        #expect(policy.delay(afterAttempts: 3, randomFraction: 0.999) > .seconds(20))
        for attempts in 1...20 {
            let delay = policy.delay(afterAttempts: attempts)
            #expect(delay <= policy.backoff(afterAttempts: attempts) && delay > policy.backoff(afterAttempts: attempts) / 2)
        }
        #expect(policy.backoff(afterAttempts: 1_000_000) == .seconds(3600))
    }

    @Test func publishedPathsLeaveTheQueueAndAreNotQueuedAgain() throws {
        let manifest = try open()
        try manifest.enqueue([queued(1), queued(2)], for: cache, now: epoch)
        try manifest.markPublished([published(1), published(3)], for: cache, now: epoch)
        #expect(try manifest.queuedPaths(for: cache) == [storePath(2)])
        #expect(try manifest.enqueue([queued(1, .hook), queued(3, .hook), queued(4)], for: cache, now: epoch) == 1)
        #expect(try manifest.queuedPaths(for: cache) == [storePath(2), storePath(4)])
        #expect(try manifest.isPublished(storePath(1), for: cache))
        #expect(try !manifest.isPublished(storePath(2), for: cache))
        #expect(try manifest.publishedSet(of: (1...4).map { storePath($0) }, for: cache) == [storePath(1), storePath(3)])
    }

    @Test func droppedPathsLeaveTheQueueAndAreListed() throws {
        let manifest = try open()
        try manifest.enqueue([queued(1), queued(2)], for: cache, now: epoch)
        #expect(try manifest.drop(storePath(1), for: cache, reason: "garbage-collected", now: epoch))
        #expect(try !manifest.drop(storePath(7), for: cache, reason: "never queued", now: epoch))
        #expect(try manifest.queuedPaths(for: cache) == [storePath(2)])
        #expect(try manifest.status(for: cache).recentDrops == [DroppedPath(path: storePath(1).baseName, reason: "garbage-collected", droppedAt: epoch)])
    }

    @Test func droppedPathsAreRememberedOnlyUpToALimit() throws {
        let manifest = try open()
        let count = Manifest.droppedPathsKept + 5
        try manifest.enqueue((1...count).map { queued($0) }, for: cache, now: epoch)
        for number in 1...count { try manifest.drop(storePath(number), for: cache, reason: "gone", now: epoch) }
        let database = try SQLiteDatabase(path: manifest.path, mode: .readOnly)
        var kept = 0
        try database.query("SELECT count(*) FROM dropped") { kept = Int($0.int64(0)) }
        #expect(kept == Manifest.droppedPathsKept)
        #expect(try manifest.status(for: cache, recentCount: 1).recentDrops.map(\.path) == [storePath(count).baseName])
    }

    // MARK: Watermark and destinations

    @Test func watermarkIsNilUntilSetAndAdvancesWithEnqueue() throws {
        let manifest = try open()
        #expect(try manifest.watermark(for: cache) == nil)
        try manifest.setWatermark(10, for: cache)
        #expect(try manifest.watermark(for: cache) == 10)
        try manifest.enqueue([queued(1)], for: cache, advancingWatermarkTo: 17)
        #expect(try manifest.watermark(for: cache) == 17)
        try manifest.enqueue([], for: cache)
        #expect(try manifest.watermark(for: cache) == 17)
    }

    @Test func destinationsAreIsolated() throws {
        let manifest = try open()
        let other = "file:///srv/cache"
        try manifest.enqueue([queued(1), queued(2)], for: cache, advancingWatermarkTo: 5, now: epoch)
        try manifest.markPublished(published(1), for: cache, now: epoch)
        try manifest.journal(for: cache).uploadStarted(key: "nar/x.nar.zst", uploadID: "u", partSize: 5 << 20)
        #expect(try manifest.watermark(for: other) == nil)
        #expect(try manifest.queuedPaths(for: other).isEmpty)
        #expect(try !manifest.isPublished(storePath(1), for: other))
        #expect(try manifest.journal(for: other).unfinishedUpload(key: "nar/x.nar.zst") == nil)
        // The same path published at one destination is still queued for the other.
        #expect(try manifest.enqueue([queued(1)], for: other, now: epoch) == 1)
        try manifest.markFailed(storePath(1), for: other, error: "refused", now: epoch)
        #expect(try manifest.status(for: cache).recentErrors.isEmpty)
        #expect(try manifest.status(for: other).queued == 1)
        #expect(try manifest.status(for: cache).queued == 1)
        #expect(try manifest.destinations() == [other, cache].sorted())
    }

    // MARK: Multipart journal

    @Test func journalRecordsAMultipartUploadAndItsParts() throws {
        let manifest = try open()
        let journal = manifest.journal(for: cache)
        let key = "nar/1abc.nar.zst"
        #expect(try journal.unfinishedUpload(key: key) == nil)
        try journal.uploadStarted(key: key, uploadID: "first", partSize: 16 << 20)
        let part1 = StoredPart(number: 1, etag: "\"one\"", size: 16 << 20, sha256: "11")
        let part2 = StoredPart(number: 2, etag: "\"two\"", size: 3, sha256: "22")
        try journal.partStored(key: key, uploadID: "first", part: part2)
        try journal.partStored(key: key, uploadID: "first", part: StoredPart(number: 1, etag: "\"stale\"", size: 1, sha256: "00"))
        try journal.partStored(key: key, uploadID: "first", part: part1)
        #expect(try journal.unfinishedUpload(key: key) == UnfinishedUpload(key: key, uploadID: "first", partSize: 16 << 20, parts: [part1, part2]))

        // A part of an upload the journal never saw start is a bug in the caller, not ignored.
        #expect(throws: ManifestError.unknownUpload(destination: cache, key: key, uploadID: "nobody")) {
            try journal.partStored(key: key, uploadID: "nobody", part: part1)
        }

        // A newer upload of the same key is the one to resume; the older one stays listed.
        try journal.uploadStarted(key: key, uploadID: "second", partSize: 8 << 20)
        #expect(try journal.unfinishedUpload(key: key)?.uploadID == "second")
        #expect(try journal.unfinishedUpload(key: key)?.parts == [])
        #expect(try manifest.status(for: cache).uploadsInFlight == 2)

        try journal.uploadEnded(key: key, uploadID: "second")
        #expect(try journal.unfinishedUpload(key: key)?.uploadID == "first")
        try journal.uploadEnded(key: key, uploadID: "first")
        try journal.uploadEnded(key: key, uploadID: "first")
        #expect(try journal.unfinishedUpload(key: key) == nil)
        let database = try SQLiteDatabase(path: manifest.path, mode: .readOnly)
        var parts = -1
        try database.query("SELECT count(*) FROM upload_parts") { parts = Int($0.int64(0)) }
        #expect(parts == 0)
    }

    @Test func staleUploadsAreThoseStartedBeforeTheLimit() throws {
        let manifest = try open()
        let journal = manifest.journal(for: cache)
        let before = Date().addingTimeInterval(-2)
        try journal.uploadStarted(key: "nar/a.nar.zst", uploadID: "a", partSize: 5 << 20)
        try journal.partStored(key: "nar/a.nar.zst", uploadID: "a", part: StoredPart(number: 1, etag: "e", size: 5 << 20, sha256: "s"))
        #expect(try manifest.staleUploads(for: cache, startedBefore: before).isEmpty)
        let stale = try manifest.staleUploads(for: cache, startedBefore: Date().addingTimeInterval(2))
        #expect(stale.map(\.key) == ["nar/a.nar.zst"] && stale.map(\.uploadID) == ["a"] && stale.map(\.storedParts) == [1])
        #expect(try manifest.staleUploads(for: "file:///elsewhere", startedBefore: .distantFuture).isEmpty)
    }

    // MARK: Status

    @Test func statusCountsQueuePublishedBytesErrorsAndUploads() throws {
        let manifest = try open()
        try manifest.enqueue((1...5).map { queued($0) }, for: cache, advancingWatermarkTo: 1234, now: epoch)
        try manifest.markPublished([published(1, fileSize: 1000, narSize: 5000), published(2, fileSize: 24, narSize: 76)], for: cache, now: epoch)
        try manifest.markFailed(storePath(3), for: cache, error: "HTTP 403 from bucket: check the credentials", now: epoch)
        try manifest.markFailed(storePath(4), for: cache, error: "timeout", now: epoch + 5)
        try manifest.markFailed(storePath(4), for: cache, error: "timeout again", now: epoch + 9)
        try manifest.journal(for: cache).uploadStarted(key: "nar/big.nar.zst", uploadID: "u1", partSize: 8 << 20)

        let status = try manifest.status(for: cache, recentCount: 5)
        #expect(status.destination == cache)
        #expect(status.watermark == 1234)
        #expect(status.lag(newestDatabaseID: 1300) == 66)
        #expect(status.queued == 3)
        #expect(status.retrying == 2)
        #expect(status.published == 2)
        #expect(status.publishedFileBytes == 1024)
        #expect(status.publishedNarBytes == 5076)
        #expect(status.uploadsInFlight == 1)
        #expect(status.recentErrors.map(\.path) == [storePath(4).baseName, storePath(3).baseName])
        #expect(status.recentErrors.map(\.attempts) == [2, 1])
        #expect(status.recentErrors.first?.error == "timeout again")
        #expect(status.recentErrors.first?.failedAt == epoch + 9)

        // What `narsync status --json` prints.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let json = try #require(try JSONSerialization.jsonObject(with: encoder.encode(status)) as? [String: Any])
        #expect(json["watermark"] as? Int == 1234 && json["queued"] as? Int == 3 && json["publishedFileBytes"] as? Int == 1024)
        let errors = try #require(json["recentErrors"] as? [[String: Any]])
        #expect(errors.first?["path"] as? String == storePath(4).baseName)
        #expect(errors.first?["failedAt"] as? String == "2027-01-15T08:00:09Z")
    }

    @Test func statusOfAnUnknownDestinationIsEmptyAndCreatesNothing() throws {
        let manifest = try open()
        let status = try manifest.status(for: cache)
        #expect(status.queued == 0 && status.published == 0 && status.watermark == nil && status.lag(newestDatabaseID: 7) == 7)
        #expect(try manifest.destinations().isEmpty)
    }

    // MARK: Async use

    @Test func asyncManifestRunsCallsOnItsOwnThread() async throws {
        let manifest = AsyncManifest(try open())
        let cache = self.cache
        let thread = try await manifest.run { manifest in
            try manifest.enqueue([queued(1)], for: cache)
            return (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines)
        }
        #expect(thread == "manifest-0")
        #expect(try await manifest.run { try $0.status(for: cache).queued } == 1)
    }
}

@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// The S3 server a test of a suite talks to: the suite's own moto with signature checking on
/// (`@Suite(.moto)`), or the test process's shared RGW.
struct SharedS3: Sendable {
    @TaskLocal static var suiteMoto: S3Server?

    let server: S3Server
    var credentials: MotoServer.Credentials { server.credentials }

    /// The server of `backend` for the running test.
    static func required(_ backend: S3Backend) throws -> SharedS3 {
        switch backend {
        case .moto:
            guard let suiteMoto else { throw TestFailure("the suite needs the .moto trait") }
            return SharedS3(server: suiteMoto)
        case .rgw:
            return SharedS3(server: try S3Server.start(.rgw))
        }
    }

    /// Options signing as the allow-all user (or with another secret), with quick retries.
    func options(secret: String? = nil, configure: (inout DestinationOptions) -> Void = { _ in }) -> DestinationOptions {
        var options = DestinationOptions(
            partSize: 5 << 20,
            retry: RequestRetryPolicy(
                maximumAttempts: 6, initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200),
                maximumTotalTime: .seconds(30)),
            environment: [
                "AWS_ACCESS_KEY_ID": credentials.accessKeyID,
                "AWS_SECRET_ACCESS_KEY": secret ?? credentials.secretAccessKey,
            ])
        configure(&options)
        return options
    }

    /// The store URL of `bucket`, reached directly or through a proxy on `port`.
    func url(bucket: String, port: Int? = nil) -> String { server.url(bucket: bucket, port: port) }

    /// A new, empty bucket and a destination for it.
    func makeBucket(options: DestinationOptions? = nil) throws -> S3Destination {
        let destination = try S3Destination(url: url(bucket: S3Server.uniqueBucketName()), options: options ?? self.options())
        try destination.createBucket()
        return destination
    }
}

struct MotoTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        // Small listing pages, so that listing tests cross page boundaries.
        let server = try await onThread { try S3Server.start(.moto, motoEnvironment: ["MOTO_S3_DEFAULT_MAX_KEYS": "5"]) }
        defer { server.stop() }
        try await SharedS3.$suiteMoto.withValue(server) { try await function() }
    }
}

extension Trait where Self == MotoTrait {
    /// Starts one moto for the suite, with signature checking on, and stops it after; tests
    /// with the `.rgw` backend use the process's shared RGW.
    static var moto: Self { MotoTrait() }
}

/// A journal kept in memory, as narsync's manifest keeps one in SQLite.
final class InMemoryJournal: UploadJournal, @unchecked Sendable {
    private let lock = NSLock()
    private var uploads: [String: UnfinishedUpload] = [:]

    func unfinishedUpload(key: String) -> UnfinishedUpload? { lock.withLock { uploads[key] } }

    func uploadStarted(key: String, uploadID: String, partSize: Int) {
        lock.withLock { uploads[key] = UnfinishedUpload(key: key, uploadID: uploadID, partSize: partSize, parts: []) }
    }

    func partStored(key: String, uploadID: String, part: StoredPart) {
        lock.withLock {
            guard uploads[key]?.uploadID == uploadID else { return }
            uploads[key]!.parts.append(part)
            uploads[key]!.parts.sort { $0.number < $1.number }
        }
    }

    func uploadEnded(key: String, uploadID: String) {
        lock.withLock { if uploads[key]?.uploadID == uploadID { uploads[key] = nil } }
    }
}

/// Reproducible bytes that do not compress, like a compressed NAR.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { buffer in
        let words = buffer.bindMemory(to: UInt64.self)
        for index in words.indices {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            words[index] = state
        }
    }
    return bytes
}

/// Streams `bytes` into `upload` in uneven pieces, as a compressor would, and commits.
func stream(_ bytes: [UInt8], into upload: any ObjectUpload, commit: Bool = true) throws {
    var offset = 0
    var piece = 1000
    while offset < bytes.count {
        let end = min(bytes.count, offset + piece)
        try bytes[offset..<end].withUnsafeBytes { try upload.write($0) }
        offset = end
        piece = piece * 3 % 1_000_003 + 17
    }
    if commit { try upload.commit() }
}

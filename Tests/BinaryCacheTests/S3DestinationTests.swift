@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// S3 destinations against moto with signature checking on and against Ceph's RADOS Gateway:
/// every request here is signed with SigV4 and verified by the server.
@Suite(.moto) struct S3DestinationTests {
    @Test(arguments: S3Backend.tested) func smallObjectsRoundTripWithNixContentTypes(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let destination = try s3.makeBucket()
        let info = Array("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n".utf8)
        try destination.put(key: "nix-cache-info", contents: info, contentType: ContentType.cacheInfo)
        try destination.put(key: "abc.narinfo", contents: Array("StorePath: x\n".utf8), contentType: ContentType.narInfo)
        #expect(try destination.read(key: "nix-cache-info") == info)
        #expect(try destination.read(key: "missing.narinfo") == nil)
        #expect(try destination.exists(key: "abc.narinfo"))
        #expect(try !destination.exists(key: "missing.narinfo"))
        let head = try destination.client.perform(.init(operation: "check", method: "HEAD", key: "abc.narinfo"))
        #expect(head.header("content-type") == ContentType.narInfo)
        let cacheInfo = try destination.client.perform(.init(operation: "check", method: "HEAD", key: "nix-cache-info"))
        #expect(cacheInfo.header("content-type") == ContentType.cacheInfo)
    }

    @Test(arguments: S3Backend.tested) func listingFollowsPagesAndKeepsOnlyTheSuffix(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let destination = try s3.makeBucket()
        let hashes = (0..<12).map { String(format: "%032d", $0) }
        for hash in hashes {
            try destination.put(key: "\(hash).narinfo", contents: [1], contentType: ContentType.narInfo)
            try destination.put(key: "nar/\(hash).nar.zst", contents: [2], contentType: ContentType.nar)
        }
        let requestsBefore = destination.statistics.requests
        let keys = try destination.listKeys(suffix: ".narinfo")
        #expect(keys == Set(hashes.map { "\($0).narinfo" }))
        // moto lists 5 keys a page here: 24 keys take 5 requests. RGW lists 1000 a page (its
        // rgw_max_listing_results only caps a max-keys, which narsync does not send).
        #expect(destination.statistics.requests - requestsBefore == (backend == .moto ? 5 : 1))
    }

    @Test(arguments: S3Backend.tested) func objectSmallerThanAPartIsOnePut(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let destination = try s3.makeBucket()
        let bytes = pseudoRandomBytes(300_000, seed: 1)
        let before = destination.statistics.requests
        try stream(bytes, into: destination.beginUpload(key: "nar/small.nar.zst", contentType: ContentType.nar, journal: nil))
        #expect(destination.statistics.requests - before == 1)
        #expect(try destination.read(key: "nar/small.nar.zst") == bytes)
    }

    @Test(arguments: S3Backend.tested) func objectLargerThanAPartGoesMultipartAndArrivesWhole(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let destination = try s3.makeBucket()
        let bytes = pseudoRandomBytes(13 << 20, seed: 2)  // 5 + 5 + 3 MiB
        let before = destination.statistics.requests
        try stream(bytes, into: destination.beginUpload(key: "nar/big.nar.zst", contentType: ContentType.nar, journal: nil))
        // Create, three parts, complete.
        #expect(destination.statistics.requests - before == 5)
        #expect(try destination.read(key: "nar/big.nar.zst") == bytes)
        let head = try destination.client.perform(.init(operation: "check", method: "HEAD", key: "nar/big.nar.zst"))
        #expect(head.header("content-type") == ContentType.nar)
        #expect(try destination.multipartUploads().isEmpty)
    }

    @Test(arguments: S3Backend.tested) func abortedUploadLeavesNoObjectAndNoParts(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let destination = try s3.makeBucket()
        let upload = try destination.beginUpload(key: "nar/aborted.nar.zst", contentType: ContentType.nar, journal: nil)
        try stream(pseudoRandomBytes(11 << 20, seed: 3), into: upload, commit: false)
        #expect(try destination.multipartUploads().count == 1)
        upload.abort()
        #expect(try destination.multipartUploads().isEmpty)
        #expect(try !destination.exists(key: "nar/aborted.nar.zst"))
    }

    @Test(arguments: S3Backend.tested) func wrongSecretFailsAtOnceNamingSignatureDoesNotMatch(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let good = try s3.makeBucket()
        let bad = try S3Destination(url: s3.url(bucket: good.location.bucket), options: s3.options(secret: "not-the-secret"))
        let error = #expect(throws: DestinationError.self) {
            try bad.put(key: "abc.narinfo", contents: [1], contentType: ContentType.narInfo)
        }
        guard let error else { return }
        #expect(error.reason == .status(403, code: "SignatureDoesNotMatch", message: error.reason.message))
        #expect(error.attempts == 1)
        #expect(!error.isTransient)
        let text = error.description
        #expect(text.contains("s3://\(good.location.bucket)/abc.narinfo"))
        #expect(text.contains("403") && text.contains("SignatureDoesNotMatch"))
        #expect(text.contains(s3.credentials.accessKeyID))
        #expect(!text.contains("not-the-secret") && !text.contains(s3.credentials.secretAccessKey))
        // A HEAD's 403 has no body; exists() asks again to tell a bad key from a missing one.
        #expect(throws: DestinationError.self) { try bad.exists(key: "abc.narinfo") }
    }

    @Test(arguments: S3Backend.tested) func missingBucketIsNamedWithAdvice(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let destination = try S3Destination(url: s3.url(bucket: "narsync-no-such-bucket"), options: s3.options())
        let error = #expect(throws: DestinationError.self) {
            try destination.put(key: "nix-cache-info", contents: [1], contentType: ContentType.cacheInfo)
        }
        #expect(error?.reason == .status(404, code: "NoSuchBucket", message: error?.reason.message))
        #expect(error?.description.contains("Create the bucket") == true)
    }

    @Test(arguments: S3Backend.tested) func madeByTheFactoryFromANixStoreURL(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let bucket = try s3.makeBucket().location.bucket
        let url = s3.url(bucket: bucket) + "&compression=zstd&storage-class=STANDARD_IA"
        let destination = try #require(try makeDestination(url: url, options: s3.options()) as? S3Destination)
        #expect(destination.description == "s3://\(bucket)")
        try destination.put(key: "nix-cache-info", contents: [1], contentType: ContentType.cacheInfo)
        let head = try destination.client.perform(.init(operation: "check", method: "HEAD", key: "nix-cache-info"))
        #expect(head.header("x-amz-storage-class") == "STANDARD_IA")
    }

    @Test(arguments: S3Backend.tested) func aStorageClassTheServerLacksIsNamed(_ backend: S3Backend) throws {
        // AWS and moto answer InvalidStorageClass; Ceph's RGW, InvalidArgument.
        let s3 = try SharedS3.required(backend)
        let bucket = try s3.makeBucket().location.bucket
        let destination = try S3Destination(url: s3.url(bucket: bucket) + "&storage-class=NO_SUCH_CLASS", options: s3.options())
        let error = #expect(throws: DestinationError.self) {
            try destination.put(key: "nix-cache-info", contents: [1], contentType: ContentType.cacheInfo)
        }
        #expect(error?.attempts == 1)
        #expect(error?.description.contains("no storage class NO_SUCH_CLASS") == true, "\(String(describing: error))")
    }

    @Test(arguments: S3Backend.tested) func requestsGoInParallelWhenTheServerClosesEveryConnection(_ backend: S3Backend) throws {
        // moto (and some proxies) end each connection after one answer. Waiting for a
        // connection that might multiplex would then send one request at a time: a round trip
        // per request on a real network, whatever --jobs says.
        let s3 = try SharedS3.required(backend)
        let bucket = try s3.makeBucket().location.bucket
        let proxy = try FaultProxy(upstreamPort: s3.server.port, closesConnections: true) { _, _, _ in .delay(.milliseconds(300)) }
        defer { proxy.stop() }
        let destination = try S3Destination(url: s3.url(bucket: bucket, port: proxy.port), options: s3.options())
        let group = DispatchGroup()
        for index in 0..<8 {
            group.enter()
            Thread {
                #expect(throws: Never.self) {
                    try destination.put(key: "\(index).narinfo", contents: [UInt8(index)], contentType: ContentType.narInfo)
                }
                group.leave()
            }.start()
        }
        group.wait()
        #expect(proxy.requests.count == 8)
        #expect(proxy.maxConcurrentRequests >= 4, "at most \(proxy.maxConcurrentRequests) requests were in flight at once")
    }

    @Test(arguments: S3Backend.tested) func twoWritersOfOneKeyLeaveOneWholeObject(_ backend: S3Backend) throws {

        // Two narsync instances upload the same NAR at once: its key names its content, so
        // whichever completes last leaves the same bytes, and neither leaves parts behind.
        let s3 = try SharedS3.required(backend)
        let first = try s3.makeBucket()
        let second = try S3Destination(url: s3.url(bucket: first.location.bucket), options: s3.options())
        let bytes = pseudoRandomBytes(12 << 20, seed: 4)
        let uploads = try [first, second].map {
            try $0.beginUpload(key: "nar/shared.nar.zst", contentType: ContentType.nar, journal: InMemoryJournal())
        }
        for upload in uploads { try stream(bytes, into: upload, commit: false) }
        for upload in uploads { try upload.commit() }
        #expect(try first.read(key: "nar/shared.nar.zst") == bytes)
        #expect(try first.multipartUploads().isEmpty)
    }
}

extension DestinationError.Reason {
    var message: String? {
        if case .status(_, _, let message) = self { message } else { nil }
    }
}

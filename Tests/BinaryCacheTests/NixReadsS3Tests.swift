@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// What narsync puts in a bucket, real Nix reads: Nix 2.8 has no s3:// support, so it reads
/// the bucket as an HTTP binary cache, http://127.0.0.1:PORT/BUCKET, as a public bucket
/// would be read. On moto, with a moto of its own, because reading anonymously means turning
/// signature checking off; on RGW, with a bucket policy.
@Suite struct NixReadsS3Tests {
    @Test(arguments: S3Backend.tested) func nixReadsTheCacheInfoNarsyncUploaded(_ backend: S3Backend) throws {
        let server = try S3Server.start(backend)
        defer { server.stop() }
        let options = DestinationOptions(environment: server.credentials.added(to: [:]))
        let (goodBucket, foreignBucket) = (S3Server.uniqueBucketName(prefix: "narsync-nix-reads"), S3Server.uniqueBucketName())
        let good = try S3Destination(url: server.url(bucket: goodBucket), options: options)
        let foreign = try S3Destination(url: server.url(bucket: foreignBucket), options: options)
        let info = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 41\n"
        for (destination, text) in [(good, info), (foreign, "StoreDir: /other/store\n")] {
            try destination.createBucket()
            try destination.put(key: "nix-cache-info", contents: Array(text.utf8), contentType: ContentType.cacheInfo)
        }

        for bucket in [goodBucket, foreignBucket] { try server.allowAnonymousReads(bucket: bucket) }
        // An anonymous GET, as any HTTP client of the cache makes it.
        let fetched = try LoopbackHTTP.request(port: server.port, method: "GET", target: "/\(goodBucket)/nix-cache-info")
        #expect(fetched.status == 200)
        #expect(fetched.text == info)

        let nix = try NixEnvironment()
        let accepted = try nix.attempt("nix", ["store", "ping", "--store", "http://\(server.endpoint)/\(goodBucket)"])
        #expect(accepted.status == 0, "\(accepted.standardError)")
        // Nix checks StoreDir against its own: it read narsync's object, not a default.
        let refused = try nix.attempt("nix", ["store", "ping", "--store", "http://\(server.endpoint)/\(foreignBucket)"])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("/other/store"), "\(refused.standardError)")
    }
}

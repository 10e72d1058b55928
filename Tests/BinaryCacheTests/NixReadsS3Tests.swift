@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// What narsync puts in a bucket, real Nix reads: Nix 2.8 has no s3:// support, so it reads
/// the bucket as an HTTP binary cache, http://127.0.0.1:PORT/BUCKET, as a public bucket
/// would be read. This suite has a moto of its own, because reading anonymously means turning
/// signature checking off.
@Suite struct NixReadsS3Tests {
    @Test func nixReadsTheCacheInfoNarsyncUploaded() throws {
        let server = try MotoServer()
        defer { server.stop() }
        let credentials = try server.enableSignatureChecking()
        let options = DestinationOptions(environment: [
            "AWS_ACCESS_KEY_ID": credentials.accessKeyID, "AWS_SECRET_ACCESS_KEY": credentials.secretAccessKey,
        ])
        let url = { (bucket: String) in "s3://\(bucket)?endpoint=\(server.endpoint)&scheme=http" }
        let good = try S3Destination(url: url("narsync-nix-reads"), options: options)
        let foreign = try S3Destination(url: url("narsync-other-store"), options: options)
        let info = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 41\n"
        for (destination, text) in [(good, info), (foreign, "StoreDir: /other/store\n")] {
            try destination.createBucket()
            try destination.put(key: "nix-cache-info", contents: Array(text.utf8), contentType: ContentType.cacheInfo)
        }

        try server.disableSignatureChecking()
        for bucket in ["narsync-nix-reads", "narsync-other-store"] { try server.allowAnonymousReads(bucket: bucket) }
        // An anonymous GET, as any HTTP client of the cache makes it.
        let fetched = try LoopbackHTTP.request(port: server.port, method: "GET", target: "/narsync-nix-reads/nix-cache-info")
        #expect(fetched.status == 200)
        #expect(fetched.text == info)

        let nix = try NixEnvironment()
        let accepted = try nix.attempt("nix", ["store", "ping", "--store", "http://\(server.endpoint)/narsync-nix-reads"])
        #expect(accepted.status == 0, "\(accepted.standardError)")
        // Nix checks StoreDir against its own: it read narsync's object, not a default.
        let refused = try nix.attempt("nix", ["store", "ping", "--store", "http://\(server.endpoint)/narsync-other-store"])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("/other/store"), "\(refused.standardError)")
    }
}

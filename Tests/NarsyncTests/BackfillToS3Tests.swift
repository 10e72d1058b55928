@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// `narsync backfill` into a real S3 server (moto with signature checking on, and Ceph's RGW),
/// read back by a real Nix over HTTP, as a public cache bucket is read.
@Suite(.serialized) struct BackfillToS3Tests {
    let nix: NixEnvironment
    let closure: TestClosure
    let key: (secretKeyFile: String, publicKey: String)

    init() throws {
        nix = try NixEnvironment()
        closure = try TestClosure.build(in: nix)
        key = try nix.generateKey(name: "narsync-s3-test-1")
    }

    private func environment(_ server: S3Server) -> [String: String] { server.credentials.added(to: nix.environment) }

    private func bucket(on server: S3Server, port: Int? = nil) throws -> (name: String, url: String) {
        let name = S3Server.uniqueBucketName()
        let options = DestinationOptions(environment: environment(server))
        try S3Destination(url: server.url(bucket: name), options: options).createBucket()
        return (name, server.url(bucket: name, port: port))
    }

    private func backfill(_ url: String, on server: S3Server, _ extra: [String] = []) throws -> ProcessResult {
        try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", url, "--key-file", key.secretKeyFile, "--store-root", nix.storeRoot,
        ] + extra + [closure.top], environment: environment(server))
    }

    /// Nix 2.8 cannot sign S3 requests: it reads the bucket anonymously.
    private func substituteFromBucket(_ name: String, on server: S3Server) throws -> ProcessResult {
        try server.allowAnonymousReads(bucket: name)
        let fresh = nix.makeStoreRoot("fresh-\(name)")
        let copy = try nix.substitute([closure.top], from: "http://\(server.endpoint)/\(name)", into: fresh, trustedKey: key.publicKey)
        if copy.status == 0 {
            let verify = try nix.verifyContents(storeRoot: fresh)
            #expect(verify.status == 0, "\(verify.standardError)")
            #expect(try nix.closure(of: closure.top, storeRoot: fresh) == nix.closure(of: closure.top))
        }
        return copy
    }

    @Test(arguments: S3Backend.tested) func aRealNixSubstitutesTheClosurePublishedToTheBucket(_ backend: S3Backend) throws {
        let server = try S3Server.start(backend)
        let (name, url) = try bucket(on: server)
        let result = try backfill(url, on: server)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("uploaded 6, already cached 0, failed 0"), "\(result.standardOutput)")
        let again = try backfill(url, on: server)
        #expect(again.standardOutput.contains("uploaded 0, already cached 6"), "\(again.standardOutput)")
        let copy = try substituteFromBucket(name, on: server)
        #expect(copy.status == 0, "\(copy.standardError)\n\(server.log.suffix(3000))")
    }

    @Test(arguments: S3Backend.tested) func faultsOnTheWayAreRetriedAndCounted(_ backend: S3Backend) throws {
        let server = try S3Server.start(backend)
        // Every fourth request fails in one of the ways S3 and networks fail.
        let proxy = try FaultProxy(upstreamPort: server.port) { index, _, _ in
            switch index % 8 {
            case 1: .status(503, code: "SlowDown")
            case 3: .status(500, code: "InternalError")
            case 5: .dropRequest
            case 7: .delay(.milliseconds(300))
            default: nil
            }
        }
        defer { proxy.stop() }
        let (name, url) = try bucket(on: server, port: proxy.port)
        let result = try backfill(url, on: server, ["--part-size-mib", "5"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("uploaded 6, already cached 0, failed 0"), "\(result.standardOutput)")
        let retries = result.standardOutput.split(separator: "\n").first { $0.hasPrefix("requests:") }
        #expect(retries != nil && !(retries!.contains("retries 0,")), "\(result.standardOutput)")
        #expect(proxy.requests.contains { $0.fault != nil })
        let copy = try substituteFromBucket(name, on: server)
        #expect(copy.status == 0, "\(copy.standardError)")
    }

    @Test(arguments: S3Backend.tested) func aWrongSecretIsBadInputNamingSignatureDoesNotMatch(_ backend: S3Backend) throws {
        let server = try S3Server.start(backend)
        let credentials = server.credentials
        let (_, url) = try bucket(on: server)
        var environment = environment(server)
        environment["AWS_SECRET_ACCESS_KEY"] = "wrong" + credentials.secretAccessKey.dropFirst(5)
        let result = try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", url, "--key-file", key.secretKeyFile, "--store-root", nix.storeRoot, closure.top,
        ], environment: environment)
        #expect(result.status == 2)
        #expect(result.standardError.contains("SignatureDoesNotMatch"), "\(result.standardError)")
        #expect(!result.standardError.contains(credentials.secretAccessKey.dropFirst(5)), "the secret must never be printed")
    }
}

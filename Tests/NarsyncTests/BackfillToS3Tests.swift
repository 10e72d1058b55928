@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// `narsync backfill` into a real S3 endpoint (moto, signature checking on), read back by a
/// real Nix over HTTP, as a public cache bucket is read.
@Suite(.serialized) struct BackfillToS3Tests {
    let nix: NixEnvironment
    let moto: MotoServer
    let credentials: MotoServer.Credentials
    let closure: TestClosure
    let key: (secretKeyFile: String, publicKey: String)

    init() throws {
        nix = try NixEnvironment()
        moto = try MotoServer()
        credentials = try moto.enableSignatureChecking()
        closure = try TestClosure.build(in: nix)
        key = try nix.generateKey(name: "narsync-s3-test-1")
    }

    private var environment: [String: String] { credentials.added(to: nix.environment) }

    private func bucket(port: Int? = nil) throws -> (name: String, url: String) {
        let name = "narsync-\(UUID().uuidString.prefix(8).lowercased())"
        let url = "s3://\(name)?endpoint=127.0.0.1:\(port ?? moto.port)&scheme=http&region=us-east-1"
        let options = DestinationOptions(environment: environment)
        try S3Destination(url: "s3://\(name)?endpoint=\(moto.endpoint)&scheme=http&region=us-east-1", options: options).createBucket()
        return (name, url)
    }

    private func backfill(_ url: String, _ extra: [String] = []) throws -> ProcessResult {
        try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", url, "--key-file", key.secretKeyFile, "--store-root", nix.storeRoot,
        ] + extra + [closure.top], environment: environment)
    }

    /// Nix 2.8 cannot sign S3 requests: it reads the bucket anonymously.
    private func substituteFromBucket(_ name: String) throws -> ProcessResult {
        try moto.disableSignatureChecking()
        try moto.allowAnonymousReads(bucket: name)
        let fresh = nix.makeStoreRoot("fresh-\(name)")
        let copy = try nix.substitute([closure.top], from: "http://\(moto.endpoint)/\(name)", into: fresh, trustedKey: key.publicKey)
        if copy.status == 0 {
            let verify = try nix.verifyContents(storeRoot: fresh)
            #expect(verify.status == 0, "\(verify.standardError)")
            #expect(try nix.closure(of: closure.top, storeRoot: fresh) == nix.closure(of: closure.top))
        }
        return copy
    }

    @Test func aRealNixSubstitutesTheClosurePublishedToTheBucket() throws {
        let (name, url) = try bucket()
        let result = try backfill(url)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("uploaded 6, already cached 0, failed 0"), "\(result.standardOutput)")
        let again = try backfill(url)
        #expect(again.standardOutput.contains("uploaded 0, already cached 6"), "\(again.standardOutput)")
        let copy = try substituteFromBucket(name)
        #expect(copy.status == 0, "\(copy.standardError)\n\(moto.log.suffix(3000))")
    }

    @Test func faultsOnTheWayAreRetriedAndCounted() throws {
        // Every fourth request fails in one of the ways S3 and networks fail.
        let proxy = try FaultProxy(upstreamPort: moto.port) { index, _, _ in
            switch index % 8 {
            case 1: .status(503, code: "SlowDown")
            case 3: .status(500, code: "InternalError")
            case 5: .dropRequest
            case 7: .delay(.milliseconds(300))
            default: nil
            }
        }
        defer { proxy.stop() }
        let (name, url) = try bucket(port: proxy.port)
        let result = try backfill(url, ["--part-size-mib", "5"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("uploaded 6, already cached 0, failed 0"), "\(result.standardOutput)")
        let retries = result.standardOutput.split(separator: "\n").first { $0.hasPrefix("requests:") }
        #expect(retries != nil && !(retries!.contains("retries 0,")), "\(result.standardOutput)")
        #expect(proxy.requests.contains { $0.fault != nil })
        let copy = try substituteFromBucket(name)
        #expect(copy.status == 0, "\(copy.standardError)")
    }

    @Test func aWrongSecretIsBadInputNamingSignatureDoesNotMatch() throws {
        let (_, url) = try bucket()
        var environment = environment
        environment["AWS_SECRET_ACCESS_KEY"] = "wrong" + credentials.secretAccessKey.dropFirst(5)
        let result = try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", url, "--key-file", key.secretKeyFile, "--store-root", nix.storeRoot, closure.top,
        ], environment: environment)
        #expect(result.status == 2)
        #expect(result.standardError.contains("SignatureDoesNotMatch"), "\(result.standardError)")
        #expect(!result.standardError.contains(credentials.secretAccessKey.dropFirst(5)), "the secret must never be printed")
    }
}

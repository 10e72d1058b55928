@testable import BinaryCache
import Foundation
import TestSupport

/// What the tests of narsync publishing to S3 start from: a real Nix with a throwaway store,
/// and a bucket on a real S3 endpoint (moto) with signature checking on.
struct NixAndBucket {
    let nix: NixEnvironment
    let moto: MotoServer
    let credentials: MotoServer.Credentials
    let bucket: String

    init(bucketPrefix: String = "narsync", nix version: NixVersion = .v2_8) throws {
        nix = try NixEnvironment(nix: version)
        // The store must exist before narsync can watch its database.
        try nix.createStore()
        moto = try MotoServer()
        credentials = try moto.enableSignatureChecking()
        bucket = "\(bucketPrefix)-\(UUID().uuidString.prefix(8).lowercased())"
        try signedBucket().createBucket()
    }

    /// The Nix environment, with the bucket's credentials where narsync looks for them.
    var environment: [String: String] { credentials.added(to: nix.environment) }

    /// The bucket's URL, reached at `port` (moto's, or a fault proxy's in front of it).
    func url(port: Int? = nil) -> String {
        "s3://\(bucket)?endpoint=127.0.0.1:\(port ?? moto.port)&scheme=http&region=us-east-1"
    }

    /// The bucket, read with signed requests straight from moto.
    func signedBucket() throws -> S3Destination {
        try S3Destination(url: url(), options: DestinationOptions(environment: environment))
    }

    /// The destination's entry of `narsync status --json` for the state in `stateDirectory`.
    func status(stateDirectory: String) throws -> [String: Any] {
        let result = try Subprocess.checked(narsyncExecutable, ["status", "--json", "--state-dir", stateDirectory, "--store-root", nix.storeRoot])
        let json = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        let destinations = json?["destinations"] as? [[String: Any]]
        return destinations?.first?["status"] as? [String: Any] ?? [:]
    }

    /// A real Nix copies `paths` from the bucket, read anonymously as a public cache is, into a
    /// fresh store with signatures required and `trustedKey` the only key trusted, then checks
    /// the store's contents. Turns signature checking off: moto refuses unsigned reads while on.
    func substitute(_ paths: [String], trustedKey: String) throws -> (copy: ProcessResult, verify: ProcessResult) {
        try moto.disableSignatureChecking()
        try moto.allowAnonymousReads(bucket: bucket)
        let fresh = nix.makeStoreRoot("fresh-\(UUID().uuidString.prefix(8))")
        let copy = try nix.substitute(paths, from: "http://\(moto.endpoint)/\(bucket)", into: fresh, trustedKey: trustedKey)
        return (copy, try nix.verifyContents(storeRoot: fresh))
    }
}

@testable import BinaryCache
import Foundation
import TestSupport

/// What the tests of narsync publishing to S3 start from: a real Nix with a throwaway store,
/// and a bucket on a real S3 server (moto with signature checking on, or Ceph's RGW).
struct NixAndBucket {
    let nix: NixEnvironment
    let server: S3Server
    let bucket: String

    init(_ backend: S3Backend = .moto, bucketPrefix: String = "narsync") throws {
        nix = try NixEnvironment()
        // The store must exist before narsync can watch its database.
        try nix.createStore()
        server = try S3Server.start(backend)
        bucket = S3Server.uniqueBucketName(prefix: bucketPrefix)
        try signedBucket().createBucket()
    }

    var credentials: MotoServer.Credentials { server.credentials }

    /// The Nix environment, with the bucket's credentials where narsync looks for them.
    var environment: [String: String] { credentials.added(to: nix.environment) }

    /// The bucket's URL, reached at `port` (the server's, or a fault proxy's in front of it).
    func url(port: Int? = nil) -> String { server.url(bucket: bucket, port: port) }

    /// The bucket, read with signed requests straight from the server.
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
    /// the store's contents. On moto, turns signature checking off: moto refuses unsigned reads
    /// while it is on.
    func substitute(_ paths: [String], trustedKey: String) throws -> (copy: ProcessResult, verify: ProcessResult) {
        try server.allowAnonymousReads(bucket: bucket)
        let fresh = nix.makeStoreRoot("fresh-\(UUID().uuidString.prefix(8))")
        let copy = try nix.substitute(paths, from: "http://\(server.endpoint)/\(bucket)", into: fresh, trustedKey: trustedKey)
        return (copy, try nix.verifyContents(storeRoot: fresh))
    }
}

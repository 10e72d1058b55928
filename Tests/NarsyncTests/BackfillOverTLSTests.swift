@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// `narsync backfill` to a bucket behind nginx (TLS with a CA made here, HTTP/2), trusting the
/// CA as Nix users do (`NIX_SSL_CERT_FILE`) and through an `HTTPS_PROXY`; then Nix 2.8, with
/// the same `NIX_SSL_CERT_FILE`, substitutes the closure over https.
@Suite(.serialized) struct BackfillOverTLSTests {
    let s3: NixAndBucket
    let key: (secretKeyFile: String, publicKey: String)
    let authority: TestCertificateAuthority
    let nginx: TLSFrontProxy

    init() throws {
        s3 = try NixAndBucket(bucketPrefix: "narsync-tls")
        key = try s3.nix.generateKey(name: "narsync-tls-1")
        authority = try TestCertificateAuthority(name: "backfill", in: s3.nix.directory.path)
        nginx = try TLSFrontProxy(upstreamPort: s3.server.port, identity: try authority.serverIdentity())
    }

    private var httpsURL: String {
        "s3://\(s3.bucket)?endpoint=https://\(nginx.endpoint)&region=us-east-1&addressing-style=path"
    }

    @Test func nixSubstitutesOverHTTPSWhatNarsyncPublishedThroughAProxy() throws {
        let closure = try TestClosure.build(in: s3.nix)
        let proxy = try ConnectProxy()
        defer { proxy.stop() }
        // Only NIX_SSL_CERT_FILE names a CA: not the variables that come before it (which a
        // build machine may set to the system bundle) nor the one after.
        var environment = s3.environment.filter { !["AWS_CA_BUNDLE", "SSL_CERT_FILE", "AWS_CONFIG_FILE"].contains($0.key) }
        environment["NIX_SSL_CERT_FILE"] = authority.certificateFile
        environment["HTTPS_PROXY"] = proxy.url
        let backfill = try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", httpsURL, "--key-file", key.secretKeyFile, "--store-root", s3.nix.storeRoot, closure.top,
        ], environment: environment)
        #expect(backfill.status == 0, "\(backfill.standardOutput)\(backfill.standardError)\(nginx.log)")
        #expect(backfill.standardOutput.contains("uploaded 6, already cached 0, failed 0"), "\(backfill.standardOutput)")
        #expect(Set(proxy.tunnelsRequested) == [nginx.endpoint])
        #expect(nginx.protocolsSeen == ["HTTP/2.0"])

        // Without the CA: one line naming the host, exit status 2, nothing written.
        environment["NIX_SSL_CERT_FILE"] = nil
        let refused = try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", httpsURL.replacingOccurrences(of: s3.bucket, with: "\(s3.bucket)-none"),
            "--key-file", key.secretKeyFile, "--store-root", s3.nix.storeRoot, closure.top,
        ], environment: environment)
        #expect(refused.status == 2, "\(refused.standardError)")
        let errorLines = refused.standardError.split(separator: "\n").filter { $0.contains("does not verify") }
        #expect(errorLines.count == 1 && errorLines[0].contains(nginx.endpoint), "\(refused.standardError)")

        try s3.server.allowAnonymousReads(bucket: s3.bucket)
        let fresh = s3.nix.makeStoreRoot("fresh-tls")
        var nixEnvironment = s3.nix.environment
        nixEnvironment["NIX_SSL_CERT_FILE"] = authority.certificateFile
        let copy = try Subprocess.run("nix", [
            "copy", "--from", "https://\(nginx.endpoint)/\(s3.bucket)", "--to", fresh,
            "--option", "require-sigs", "true", "--option", "trusted-public-keys", key.publicKey, closure.top,
        ], environment: nixEnvironment)
        #expect(copy.status == 0, "\(copy.standardError)")
        let verify = try s3.nix.verifyContents(storeRoot: fresh)
        #expect(verify.status == 0, "\(verify.standardError)")
        #expect(try s3.nix.closure(of: closure.top, storeRoot: fresh) == s3.nix.closure(of: closure.top))
    }
}

import Foundation
import Testing
import TestSupport

/// The `ca-file` key of a `[[destination]]`: `narsync config check --online` reaches a bucket
/// behind nginx with a private CA through it, and names an unreadable one.
@Suite struct CAFileSettingTests {
    let directory = try! TemporaryDirectory(prefix: "narsync-ca-setting")
    var config: String { directory.appending("config.toml") }
    var keyFile: String { directory.appending("signing-key.sec") }

    init() throws {
        let keygen = try Subprocess.run(narsyncExecutable, ["keygen", "ca-1", keyFile, directory.appending("signing-key.pub")])
        #expect(keygen.status == 0, "\(keygen.standardError)")
    }

    private func check(url: String, caFile: String) throws -> ProcessResult {
        try """
            state-dir = "\(directory.path)/state"
            [[destination]]
            url = "\(url)"
            key-files = ["\(keyFile)"]
            ca-file = "\(caFile)"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        // Only the setting names a CA: none of the variables that would come after it.
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("NARSYNC_") && !["AWS_CA_BUNDLE", "NIX_SSL_CERT_FILE", "SSL_CERT_FILE"].contains($0.key)
        }
        environment["AWS_ACCESS_KEY_ID"] = "AKIDNARSYNCTEST"
        environment["AWS_SECRET_ACCESS_KEY"] = "not-checked-by-this-moto"
        return try Subprocess.run(narsyncExecutable, ["config", "check", "--online", "--config", config], environment: environment)
    }

    @Test func theSettingIsTrustedAndAnUnreadableOneNamed() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let authority = try TestCertificateAuthority(name: "setting", in: directory.path)
        let nginx = try TLSFrontProxy(upstreamPort: moto.port, identity: try authority.serverIdentity())
        defer { nginx.stop() }
        let url = "s3://ca-setting?endpoint=https://\(nginx.endpoint)&region=us-east-1"

        let trusted = try check(url: url, caFile: authority.certificateFile)
        #expect(trusted.status == 0, "\(trusted.standardError)")
        #expect(trusted.standardOutput.contains("ca-file = \"\(authority.certificateFile)\"  # \(config):5"), "\(trusted.standardOutput)")

        let missing = directory.appending("no-such-ca.pem")
        let refused = try check(url: url, caFile: missing)
        #expect(refused.status == 2)
        #expect(refused.standardError.contains("cannot read the CA bundle \(missing) (from the ca-file setting)"), "\(refused.standardError)")
    }
}

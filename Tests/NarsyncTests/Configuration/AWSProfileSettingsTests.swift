@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// The service's configuration naming an AWS config file and a profile (`aws-config-file`,
/// `aws-profile`), and `config check --online` telling where the credentials come from.
@Suite(.serialized) struct AWSProfileSettingsTests {
    let directory = try! TemporaryDirectory()
    let moto: MotoServer
    let bucket = "profile-\(UUID().uuidString.prefix(8).lowercased())"

    init() throws {
        moto = try MotoServer()
        try S3Destination(
            url: "s3://\(bucket)?endpoint=\(moto.endpoint)&scheme=http&region=us-east-1",
            options: DestinationOptions(environment: ["AWS_ACCESS_KEY_ID": "AKIASETUP", "AWS_SECRET_ACCESS_KEY": "s"])
        ).createBucket()
    }

    private func check(profile: String, _ extra: [String]) throws -> ProcessResult {
        let keyFile = directory.appending("signing-key.sec")
        if !FileManager.default.fileExists(atPath: keyFile) {
            _ = try Subprocess.checked(narsyncExecutable, ["keygen", "test-1", keyFile, directory.appending("signing-key.pub")])
        }
        let process = directory.appending("hand-out-key")
        try """
            #!/bin/sh
            printf '{"Version": 1, "AccessKeyId": "AKIAFROMPROFILE", "SecretAccessKey": "profile-secret", "SessionToken": "profile-token", "Expiration": "2999-01-01T00:00:00Z"}\\n'
            """.write(toFile: process, atomically: true, encoding: .utf8)
        chmod(process, 0o700)
        let awsConfig = directory.appending("aws-config")
        try "[profile publisher]\ncredential_process = \(process)\nregion = eu-west-2\n".write(toFile: awsConfig, atomically: true, encoding: .utf8)
        let config = directory.appending("config.toml")
        try """
            [[destination]]
            url = "s3://\(bucket)?endpoint=\(moto.endpoint)&scheme=http"
            key-files = ["\(keyFile)"]
            aws-config-file = "\(awsConfig)"
            aws-profile = "\(profile)"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NARSYNC_") && !$0.key.hasPrefix("AWS_") }
        // Keys in the environment give way to the profile the configuration names.
        environment["AWS_ACCESS_KEY_ID"] = "AKIAFROMENVIRONMENT"
        environment["AWS_SECRET_ACCESS_KEY"] = "environment-secret"
        environment["AWS_EC2_METADATA_DISABLED"] = "true"
        return try Subprocess.run(narsyncExecutable, ["config", "check", "--config", config] + extra, environment: environment)
    }

    @Test func onlineCheckShowsTheSourceKeyAndExpiryOfTheNamedProfile() throws {
        let result = try check(profile: "publisher", ["--online"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("aws-profile = \"publisher\""))
        #expect(result.standardOutput.contains(
            "AWS credentials from profile [publisher] credential_process, access key AKIAFROMPROFILE, expire 2999-01-01T00:00:00Z"),
            "\(result.standardOutput)")
        let everything = result.standardOutput + result.standardError
        #expect(!everything.contains("profile-secret") && !everything.contains("profile-token"))
        #expect(!everything.contains("AKIAFROMENVIRONMENT"))
    }

    @Test func aProfileInNeitherFileIsNamedInTheError() throws {
        let result = try check(profile: "absent", [])
        #expect(result.status == 2)
        #expect(result.standardError.contains("has profile [absent]"), "\(result.standardError)")
    }
}

@testable import BinaryCache
import Foundation
import Testing
import TestSupport

@Suite struct S3LocationTests {
    @Test func awsDefaultsToVirtualHostsInTheRegion() throws {
        let location = try S3Location(parsing: "s3://my-cache?region=eu-west-1")
        #expect(location.bucket == "my-cache")
        let target = location.target(key: "nar/abc.nar.zst", query: [])
        #expect(target.url == "https://my-cache.s3.eu-west-1.amazonaws.com/nar/abc.nar.zst")
        #expect(target.host == "my-cache.s3.eu-west-1.amazonaws.com")
        #expect(target.canonicalURI == "/nar/abc.nar.zst")
    }

    @Test func bucketsWithDotsUsePathStyleOnAWS() throws {
        let target = try S3Location(parsing: "s3://cache.example.org").target(key: "x.narinfo", query: [])
        #expect(target.url == "https://s3.us-east-1.amazonaws.com/cache.example.org/x.narinfo")
    }

    @Test func customEndpointsUsePathStyleAndTheGivenScheme() throws {
        let location = try S3Location(parsing: "s3://nix?endpoint=127.0.0.1:9000&scheme=http&region=local&profile=ci")
        #expect(location.profile == "ci")
        #expect(location.region == "local")
        let target = location.target(key: "", query: [("list-type", "2"), ("continuation-token", "a/b=")])
        #expect(target.url == "http://127.0.0.1:9000/nix?continuation-token=a%2Fb%3D&list-type=2")
        #expect(target.host == "127.0.0.1:9000")
    }

    @Test func endpointMayBeAURLWithSchemeAndPath() throws {
        let location = try S3Location(parsing: "s3://nix?endpoint=https%3A%2F%2Fminio.local%3A443%2Fs3%2F&addressing-style=path")
        #expect(location.scheme == "https")
        let target = location.target(key: "nix-cache-info", query: [])
        #expect(target.url == "https://minio.local/s3/nix/nix-cache-info")
        #expect(target.host == "minio.local")
    }

    @Test func virtualAddressingCanBeForced() throws {
        let location = try S3Location(parsing: "s3://nix?endpoint=r2.example.com&addressing-style=virtual")
        #expect(location.target(key: "k", query: []).url == "https://nix.r2.example.com/k")
    }

    @Test func nixCacheSettingsAreAcceptedAndTyposAreNot() throws {
        let location = try S3Location(parsing: "s3://nix?compression=zstd&secret-key=/etc/key&multipart-chunk-size=16777216&storage-class=STANDARD_IA")
        #expect(location.partSize == 16 << 20)
        #expect(location.storageClass == "STANDARD_IA")
        #expect(throws: DestinationError.self) { try S3Location(parsing: "s3://nix?regoin=eu-west-1") }
        #expect(throws: DestinationError.self) { try S3Location(parsing: "s3://nix/prefix") }
        #expect(throws: DestinationError.self) { try S3Location(parsing: "s3://nix?addressing-style=dns") }
    }
}

@Suite struct S3CredentialsTests {
    let directory: TemporaryDirectory
    let file: String

    init() throws {
        directory = try TemporaryDirectory()
        file = directory.appending("credentials")
        try """
            [default]
            aws_access_key_id = AKIADEFAULT
            aws_secret_access_key = default-secret
            # a comment
            [ci]
            aws_access_key_id=AKIACI
            aws_secret_access_key=ci-secret
            aws_session_token = ci-token
            """.write(toFile: file, atomically: true, encoding: .utf8)
    }

    @Test func environmentComesFirst() throws {
        let credentials = try S3Credentials.resolve(profile: nil, environment: [
            "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "t",
            "AWS_SHARED_CREDENTIALS_FILE": file,
        ])
        #expect(credentials.accessKeyID == "AKIAENV")
        #expect(credentials.sessionToken == "t")
    }

    @Test func sharedFileWithAWSProfileOrDefault() throws {
        let ci = try S3Credentials.resolve(profile: nil, environment: ["AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "ci"])
        #expect(ci.accessKeyID == "AKIACI")
        #expect(ci.secretAccessKey == "ci-secret")
        #expect(ci.sessionToken == "ci-token")
        let fallback = try S3Credentials.resolve(profile: nil, environment: ["HOME": directory.path, "AWS_SHARED_CREDENTIALS_FILE": file])
        #expect(fallback.accessKeyID == "AKIADEFAULT")
    }

    @Test func profileInTheURLSelectsTheFileOverTheEnvironment() throws {
        let credentials = try S3Credentials.resolve(profile: "ci", environment: [
            "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SHARED_CREDENTIALS_FILE": file,
        ])
        #expect(credentials.accessKeyID == "AKIACI")
        #expect(credentials.source.contains("[ci]"))
    }

    @Test func homeDirectoryFileIsTheDefault() throws {
        try FileManager.default.createDirectory(atPath: directory.appending(".aws"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: file, toPath: directory.appending(".aws/credentials"))
        let credentials = try S3Credentials.resolve(profile: nil, environment: ["HOME": directory.path])
        #expect(credentials.accessKeyID == "AKIADEFAULT")
    }

    @Test func missingCredentialsSayWhereNarsyncLooked() {
        let error = #expect(throws: DestinationError.self) {
            try S3Credentials.resolve(profile: "absent", environment: ["AWS_SHARED_CREDENTIALS_FILE": file])
        }
        #expect(error?.description.contains("[absent]") == true)
        #expect(error?.description.contains(file) == true)
        #expect(throws: DestinationError.self) {
            try S3Credentials.resolve(profile: nil, environment: ["AWS_ACCESS_KEY_ID": "AKIA"])
        }
    }
}

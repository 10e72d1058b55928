@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// Each source of the credential chain against real moto (S3, STS, instance metadata),
/// proven by the access key that signed the S3 requests the recording proxy saw.
@Suite(.serialized) struct CredentialSourceTests {
    @Test func environmentKeysSignAndWinOverTheProfile() throws {
        let world = try CredentialWorld()
        try world.write(".aws/credentials", "[default]\naws_access_key_id = AKIAFROMFILE\naws_secret_access_key = file-secret\n")
        let fromEnvironment = try world.destination(world.environment(["AWS_ACCESS_KEY_ID": "AKIAFROMENV", "AWS_SECRET_ACCESS_KEY": "env-secret"]))
        try fromEnvironment.put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        #expect(world.signingKeys == ["AKIAFROMENV"])
        #expect(fromEnvironment.credentials.status.source == "AWS_ACCESS_KEY_ID")

        let fromFile = try world.destination(world.environment())
        try fromFile.put(key: "b.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        #expect(world.signingKeys.last == "AKIAFROMFILE")
    }

    @Test func webIdentityAssumesTheRoleWithSTS() throws {
        let world = try CredentialWorld()
        let tokenFile = try world.write("token", "eyJhbGciOiJSUzI1NiJ9.oidc-token-value.signature")
        let destination = try world.destination(world.environment([
            "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ci",
            "AWS_ROLE_SESSION_NAME": "github-run", "AWS_ENDPOINT_URL_STS": world.motoURL,
        ]))
        try destination.put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        let key = try #require(world.signingKeys.last)
        #expect(key.hasPrefix("ASIA"), "STS hands out temporary keys")
        #expect(key == destination.credentials.latest.accessKeyID)
        #expect(world.proxy.requests.last?.hadSessionToken == true)
        #expect(destination.credentials.status.source.contains("web identity"))
        #expect(destination.credentials.status.expiration != nil)

        // The token file is read at every refresh: a rotated token gives another session.
        try world.write("token", "eyJhbGciOiJSUzI1NiJ9.rotated-token.signature")
        destination.credentials.refreshNow(rejecting: key)
        try destination.put(key: "b.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        #expect(world.signingKeys.last != key)
        #expect(world.signingKeys.last?.hasPrefix("ASIA") == true)
    }

    @Test func assumeRoleProfileWithSourceProfileExternalIDAndDuration() throws {
        let world = try CredentialWorld()
        try world.write(".aws/config", """
            [profile build]
            role_arn = arn:aws:iam::123456789012:role/publisher
            source_profile = base
            external_id = narsync-external
            role_session_name = narsync-test
            duration_seconds = 900
            region = eu-west-3
            """)
        try world.write(".aws/credentials", "[base]\naws_access_key_id = AKIABASEUSER\naws_secret_access_key = base-secret\n")
        let destination = try world.destination(
            world.environment(["AWS_PROFILE": "build", "AWS_ENDPOINT_URL_STS": world.motoURL]), urlExtra: "")
        try destination.put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        let key = try #require(world.signingKeys.last)
        #expect(key.hasPrefix("ASIA") && key != "AKIABASEUSER")
        let status = destination.credentials.status
        #expect(status.source.contains("profile [build] role arn:aws:iam::123456789012:role/publisher"))
        // duration_seconds reached STS: the session lasts 15 minutes, not moto's default hour.
        let lifetime = try #require(status.expiration).timeIntervalSinceNow
        #expect(lifetime > 800 && lifetime <= 905)
        // The profile's region, since the URL names none.
        #expect(destination.location.region == "eu-west-3")
    }

    @Test func roleAssumedWithTheInstanceOrContainerCredentialsAsSource() throws {
        let world = try CredentialWorld()
        try world.write(".aws/config", """
            [profile from-instance]
            role_arn = arn:aws:iam::123456789012:role/from-instance
            credential_source = Ec2InstanceMetadata
            [profile from-container]
            role_arn = arn:aws:iam::123456789012:role/from-container
            credential_source = EcsContainer
            """)
        var environment = world.environment([
            "AWS_ENDPOINT_URL_STS": world.motoURL, "AWS_EC2_METADATA_SERVICE_ENDPOINT": world.motoURL,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "\(world.motoURL)/latest/meta-data/iam/security-credentials/default-role",
        ])
        environment["AWS_EC2_METADATA_DISABLED"] = nil
        for profile in ["from-instance", "from-container"] {
            environment["AWS_PROFILE"] = profile
            let destination = try world.destination(environment)
            try destination.put(key: "\(profile).narinfo", contents: [1], contentType: "text/x-nix-narinfo")
            // Signed with the role's session, not with the source's "test-key".
            #expect(world.signingKeys.last?.hasPrefix("ASIA") == true)
            #expect(destination.credentials.status.source == "profile [\(profile)] role arn:aws:iam::123456789012:role/\(profile)")
        }
    }

    @Test func credentialProcessRunsWithoutAShellAndItsExpirationCounts() throws {
        let world = try CredentialWorld()
        let command = try world.credentialProcess(lifetime: 3600)
        try world.write(".aws/config", "[profile laptop]\ncredential_process = \(command)\n")
        let destination = try world.destination(world.environment(["AWS_PROFILE": "laptop"]))
        try destination.put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        #expect(world.signingKeys == ["AKIAPROC0001"])
        #expect(world.proxy.requests.last?.hadSessionToken == true)
        let expiration = try #require(destination.credentials.status.expiration)
        #expect(abs(expiration.timeIntervalSinceNow - 3600) < 60)
    }

    @Test func ecsContainerCredentialsFromTheFullURI() throws {
        let world = try CredentialWorld()
        let tokenFile = try world.write("ecs-token", "container-authorization-token")
        let destination = try world.destination(world.environment([
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "\(world.motoURL)/latest/meta-data/iam/security-credentials/default-role",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
        ]))
        try destination.put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        // moto's credentials document hands out the key "test-key".
        #expect(world.signingKeys == ["test-key"])
        #expect(destination.credentials.status.source.hasPrefix("ECS container credentials"))
    }

    @Test func instanceMetadataV2TokenThenRoleThenCredentialsAndRegion() throws {
        let world = try CredentialWorld()
        let metadata = try FaultProxy(upstreamPort: world.moto.port) { _, _, _ in nil }
        var environment = world.environment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(metadata.port)"])
        environment["AWS_EC2_METADATA_DISABLED"] = nil
        let destination = try world.destination(environment, urlExtra: "")
        try destination.put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        #expect(world.signingKeys == ["test-key"])
        #expect(destination.credentials.status.source == "EC2 instance metadata (role default-role)")
        let asked = metadata.requests.map { "\($0.method) \($0.target)" }
        #expect(asked.first == "PUT /latest/api/token")
        #expect(asked.contains("GET /latest/meta-data/iam/security-credentials/"))
        #expect(asked.contains("GET /latest/meta-data/iam/security-credentials/default-role"))
        // No region anywhere else: instance metadata's (moto says us-east-1).
        #expect(asked.contains("GET /latest/meta-data/placement/region"))
        #expect(!destination.location.region.isEmpty)
    }

    /// With every source set up at once, each wins in the SDKs' order over those after it.
    @Test func chainOrderWebIdentityThenProfileThenContainerThenInstanceMetadata() throws {
        let world = try CredentialWorld()
        let tokenFile = try world.write("token", "oidc-token")
        let credentialsFile = try world.write(".aws/credentials", "[default]\naws_access_key_id = AKIAFROMFILE\naws_secret_access_key = s\n")
        var environment = world.environment([
            "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ci",
            "AWS_ENDPOINT_URL_STS": world.motoURL,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "\(world.motoURL)/latest/meta-data/iam/security-credentials/default-role",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": world.motoURL,
        ])
        environment["AWS_EC2_METADATA_DISABLED"] = nil
        func winner() throws -> (source: String, key: String?) {
            let destination = try world.destination(environment)
            try destination.put(key: "order.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
            return (destination.credentials.status.source, world.signingKeys.last)
        }
        let webIdentity = try winner()
        #expect(webIdentity.source.hasPrefix("web identity") && webIdentity.key?.hasPrefix("ASIA") == true)
        environment["AWS_WEB_IDENTITY_TOKEN_FILE"] = nil
        #expect(try winner() == ("\(credentialsFile) [default]", "AKIAFROMFILE"))
        try FileManager.default.removeItem(atPath: credentialsFile)
        let container = try winner()
        #expect(container.source.hasPrefix("ECS container credentials") && container.key == "test-key")
        environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = nil
        #expect(try winner() == ("EC2 instance metadata (role default-role)", "test-key"))
    }

    @Test func noCredentialsFailsWithinSecondsListingWhatWasTried() throws {
        let world = try CredentialWorld()
        let closed = try LoopbackListener.freePort()
        var environment = world.environment(["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(closed)"])
        environment["AWS_EC2_METADATA_DISABLED"] = nil
        let started = ContinuousClock.now
        let error = #expect(throws: DestinationError.self) { try world.destination(environment) }
        #expect(ContinuousClock.now - started < .seconds(8))
        let message = try #require(error?.description)
        #expect(!message.contains("\n"))
        for tried in ["no AWS credentials", "environment: AWS_ACCESS_KEY_ID is not set", "web identity", "profile [default]",
                      "ECS container", "EC2 instance metadata: no instance metadata at http://127.0.0.1:\(closed)"] {
            #expect(message.contains(tried), "\(tried) in: \(message)")
        }
        // Instance metadata that takes connections and never answers: about a second, twice.
        let silent = try LoopbackListener { connection in _ = try? connection.read(exactly: 1 << 20) }
        defer { silent.stop() }
        environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:\(silent.port)"
        let waited = ContinuousClock.now
        let unanswered = #expect(throws: DestinationError.self) { try world.destination(environment) }
        #expect(ContinuousClock.now - waited < .seconds(8))
        #expect(unanswered?.description.contains("EC2 instance metadata: no instance metadata at http://127.0.0.1:\(silent.port)") == true,
                "\(unanswered?.description ?? "")")

        let disabled = #expect(throws: DestinationError.self) { try world.destination(world.environment()) }
        #expect(disabled?.description.contains("AWS_EC2_METADATA_DISABLED is true") == true)
    }

    @Test func endpointAndRegionFromTheEnvironmentUnlessTheURLNamesThem() throws {
        let world = try CredentialWorld()
        var options = DestinationOptions(environment: world.environment([
            "AWS_ACCESS_KEY_ID": "AKIAENDPOINT", "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:\(world.proxy.port)", "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
            "AWS_REGION": "ap-south-2",
        ]))
        options.retry.maximumAttempts = 1
        let destination = try S3Destination(url: "s3://\(world.bucket)", options: options)
        #expect(destination.location.region == "ap-south-2")
        #expect(destination.location.usesVirtualHost == false)
        try destination.put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        #expect(world.signingKeys == ["AKIAENDPOINT"])
        // The URL's endpoint= and region= win.
        let explicit = try S3Destination(url: "s3://\(world.bucket)?endpoint=127.0.0.1:9&region=eu-north-1&scheme=http", options: options)
        #expect(explicit.location.endpoint == "127.0.0.1:9" && explicit.location.region == "eu-north-1")
    }
}

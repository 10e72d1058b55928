@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// The parts of the chain that need no server: the shared files, command lines, times, the
/// refresh rule, SSO's token cache and request, and what may be shown.
@Suite struct CredentialParsingTests {
    @Test func iniSectionsCommentsAndNestedSubsettings() {
        let sections = AWSConfigFiles.parseINI("""
            # comment
            [profile  ci ]
            region = eu-west-1
            s3 =
              addressing_style = path
              max_concurrent_requests = 20
            role_arn=arn:aws:iam::1:role/r
            ; another comment
            [default]
            aws_access_key_id = AKIA
            """)
        #expect(sections["profile ci"] == ["region": "eu-west-1", "s3": "", "role_arn": "arn:aws:iam::1:role/r"])
        #expect(sections["default"] == ["aws_access_key_id": "AKIA"])
    }

    @Test func profileMergesBothFilesTheCredentialsFileWinning() throws {
        let directory = try TemporaryDirectory()
        try "[profile ci]\nregion = eu-west-1\naws_access_key_id = AKIACONFIG\n[sso-session corp]\nsso_region = eu-central-1\n"
            .write(toFile: directory.appending("config"), atomically: true, encoding: .utf8)
        try "[ci]\naws_access_key_id = AKIACREDS\naws_secret_access_key = s\n"
            .write(toFile: directory.appending("credentials"), atomically: true, encoding: .utf8)
        let files = AWSConfigFiles(environment: [
            "AWS_CONFIG_FILE": directory.appending("config"), "AWS_SHARED_CREDENTIALS_FILE": directory.appending("credentials"),
        ])
        let profile = try #require(files.profile("ci"))
        #expect(profile["region"] == "eu-west-1")
        #expect(profile["aws_access_key_id"] == "AKIACREDS")
        #expect(files.profile("absent") == nil)
        #expect(files.ssoSession("corp")?["sso_region"] == "eu-central-1")
        let settings = AWSSettings(environment: [
            "AWS_CONFIG_FILE": directory.appending("config"), "AWS_PROFILE": "ci", "AWS_DEFAULT_REGION": "us-west-2",
        ], profile: nil)
        #expect(settings.configuredRegion == "us-west-2")
        #expect(AWSSettings(environment: ["AWS_CONFIG_FILE": directory.appending("config")], profile: "ci").configuredRegion == "eu-west-1")
    }

    @Test func endpointVariablesServiceFirst() throws {
        let settings = AWSSettings(
            environment: ["AWS_ENDPOINT_URL": "https://all.example", "AWS_ENDPOINT_URL_STS": "https://sts.example", "HOME": "/nonexistent"],
            profile: nil)
        #expect(settings.endpoint(service: "STS") == "https://sts.example")
        #expect(settings.endpoint(service: "S3") == "https://all.example")
        let endpoint = try ServiceEndpoint("https://sts.example:443/prefix/")
        #expect(endpoint.host == "sts.example" && endpoint.path == "/prefix" && endpoint.url("/") == "https://sts.example/prefix/")
    }

    @Test func credentialProcessCommandSplitsLikeAShellWithoutOne() throws {
        #expect(try ProcessProvider.split(#"/usr/bin/tool --profile 'my profile' "a \"b\"" c\ d $HOME;x"#)
            == ["/usr/bin/tool", "--profile", "my profile", #"a "b""#, "c d", "$HOME;x"])
        #expect(throws: CredentialSourceError.self) { try ProcessProvider.split("tool 'unclosed") }
    }

    @Test func timestampsAsAWSWritesThem() throws {
        let base = try #require(AWSTimestamp.parse("2026-12-06T06:00:29Z"))
        #expect(base.timeIntervalSince1970 == 1_796_536_829)
        #expect(AWSTimestamp.parse("2026-12-06T06:00:29.126545Z").map { $0.timeIntervalSince(base) } ?? 0 > 0.12)
        #expect(AWSTimestamp.parse("2026-12-06T08:00:29+02:00") == base)
        #expect(AWSTimestamp.parse("yesterday") == nil)
    }

    @Test func refreshFiveMinutesBeforeExpiryOrAtHalfTheLifetime() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(RefreshSchedule.refreshTime(obtained: now, expiration: now + 3600) == now + 3300)
        #expect(RefreshSchedule.refreshTime(obtained: now, expiration: now + 20) == now + 10)
        #expect(RefreshSchedule.refreshTime(obtained: now, expiration: now + 600) == now + 300)
        #expect(RefreshSchedule.refreshTime(obtained: now, expiration: now - 5) == now - 5)
        #expect(RefreshSchedule.retryDelay(failures: 1) == 1)
        #expect(RefreshSchedule.retryDelay(failures: 3) == 4)
        #expect(RefreshSchedule.retryDelay(failures: 50) == 60)
    }

    @Test func ssoReadsTheLoginTokenCacheAndBuildsGetRoleCredentials() throws {
        let home = try TemporaryDirectory()
        try """
            [profile dev]
            sso_session = corp
            sso_account_id = 111122223333
            sso_role_name = Publisher
            [sso-session corp]
            sso_start_url = https://corp.awsapps.com/start
            sso_region = eu-central-1
            """.write(toFile: home.appending("config"), atomically: true, encoding: .utf8)
        let settings = AWSSettings(environment: ["HOME": home.path, "AWS_CONFIG_FILE": home.appending("config")], profile: "dev")
        let profile = try #require(settings.profile)
        let http = CredentialHTTP.remote(logger: .init(label: "test"))
        let provider = try SSOProvider(profile: profile, settings: settings, http: http)
        // The AWS CLI names the cache file after the SHA-1 of the session name.
        // (`printf %s corp | sha1sum`)
        #expect(provider.tokenFile == "\(home.path)/.aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json")
        #expect(throws: CredentialSourceError.self) { try provider.accessToken() }

        try FileManager.default.createDirectory(atPath: "\(home.path)/.aws/sso/cache", withIntermediateDirectories: true)
        let expired = #"{"accessToken": "sso-access-token", "expiresAt": "2020-01-01T00:00:00Z", "region": "eu-central-1"}"#
        try expired.write(toFile: provider.tokenFile, atomically: true, encoding: .utf8)
        let error = #expect(throws: CredentialSourceError.self) { try provider.accessToken() }
        #expect(error?.description.contains("aws sso login --profile dev") == true)
        #expect(error?.description.contains("sso-access-token") == false)

        try expired.replacingOccurrences(of: "2020", with: "2999").write(toFile: provider.tokenFile, atomically: true, encoding: .utf8)
        let request = provider.request(token: try provider.accessToken())
        #expect(request.method == "GET")
        #expect(request.url == "https://portal.sso.eu-central-1.amazonaws.com/federation/credentials?account_id=111122223333&role_name=Publisher")
        #expect(request.headers.contains { $0.name == "x-amz-sso_bearer_token" && $0.value == "sso-access-token" })

        let answer = #"{"roleCredentials": {"accessKeyId": "ASIASSO", "secretAccessKey": "sso-secret", "sessionToken": "sso-session", "expiration": 1796536829000}}"#
        let credentials = try SSOProvider.credentials(in: Array(answer.utf8), source: provider.name)
        #expect(credentials.accessKeyID == "ASIASSO" && credentials.expiration == AWSTimestamp.parse("2026-12-06T06:00:29Z"))
    }

    @Test func nothingShowsASecretOrAToken() throws {
        let credentials = S3Credentials(
            accessKeyID: "ASIAVISIBLE", secretAccessKey: "the-secret-key", sessionToken: "the-session-token",
            source: "web identity (arn:aws:iam::1:role/r)", expiration: Date(timeIntervalSinceNow: 600))
        let cache = CredentialCache(credentials)
        var dumped = ""
        dump(cache, to: &dumped)
        let encoded = String(decoding: try JSONEncoder().encode(cache.status), as: UTF8.self)
        for text in ["\(credentials)", "\(cache)", String(reflecting: credentials), dumped, encoded] {
            #expect(text.contains("ASIAVISIBLE"))
            #expect(!text.contains("the-secret-key") && !text.contains("the-session-token"), "\(text)")
        }
        let sts = try STSClient.credentials(in: Array("""
            <AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAX</AccessKeyId>\
            <SecretAccessKey>sts-secret</SecretAccessKey><SessionToken>sts-token</SessionToken>\
            <Expiration>2026-12-06T06:00:29Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>
            """.utf8), source: "s", action: "AssumeRole")
        #expect(sts.sessionToken == "sts-token" && !"\(sts)".contains("sts-secret") && !"\(sts)".contains("sts-token"))
    }
}

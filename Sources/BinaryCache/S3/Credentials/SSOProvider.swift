internal import CCrypto
import Foundation

/// IAM Identity Center (SSO): the access token `aws sso login` left in its cache, exchanged
/// for the role's credentials with the portal's `GetRoleCredentials`. narsync does not log
/// in, nor refresh the token: when it expires, `aws sso login` again.
struct SSOProvider: CredentialProvider {
    /// The token cache's key: the `sso_session` name, or the legacy profile's `sso_start_url`.
    let cacheKey: String
    let region: String
    let accountID: String
    let roleName: String
    let portal: ServiceEndpoint
    let cacheDirectory: String
    let http: CredentialHTTP
    let name: String
    /// What to run when the token is missing or expired.
    let loginCommand: String

    /// From a profile with `sso_session` (and its `[sso-session NAME]`) or the legacy
    /// `sso_start_url`/`sso_region`, with `sso_account_id` and `sso_role_name`.
    init(profile: AWSProfile, settings: AWSSettings, http: CredentialHTTP) throws {
        let files = settings.files
        var sessionSettings = profile.values
        let key: String
        if let session = profile["sso_session"] {
            guard let section = files.ssoSession(session) else {
                throw CredentialSourceError.failed("profile [\(profile.name)] names sso_session \(session), which \(files.configPath) has no [sso-session \(session)] for")
            }
            sessionSettings.merge(section) { $1 }
            key = session
        } else {
            guard let startURL = profile["sso_start_url"] else {
                throw CredentialSourceError.failed("profile [\(profile.name)] has neither sso_session nor sso_start_url")
            }
            key = startURL
        }
        func required(_ name: String) throws -> String {
            guard let value = sessionSettings[name], !value.isEmpty else {
                throw CredentialSourceError.failed("profile [\(profile.name)] uses SSO but has no \(name)")
            }
            return value
        }
        cacheKey = key
        region = try required("sso_region")
        accountID = try required("sso_account_id")
        roleName = try required("sso_role_name")
        portal = try ServiceEndpoint(settings.endpoint(service: "SSO") ?? "https://portal.sso.\(region).amazonaws.com")
        let home = settings.variable("HOME") ?? NSHomeDirectory()
        cacheDirectory = "\(home)/.aws/sso/cache"
        self.http = http
        name = "profile [\(profile.name)] SSO (\(roleName) in \(accountID))"
        loginCommand = "aws sso login --profile \(profile.name)"
    }

    /// The token cache file: `~/.aws/sso/cache/` and the SHA-1 of the session name or start URL.
    var tokenFile: String {
        var digest = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        let bytes = Array(cacheKey.utf8)
        _ = SHA1(bytes, bytes.count, &digest)
        return "\(cacheDirectory)/\(digest.map { String(format: "%02x", $0) }.joined()).json"
    }

    /// The cached access token, if it has not expired.
    func accessToken(now: Date = Date()) throws -> String {
        struct Cached: Decodable {
            var accessToken: String
            var expiresAt: String
        }
        guard let data = FileManager.default.contents(atPath: tokenFile) else {
            throw CredentialSourceError.failed("\(name): no SSO token in \(tokenFile): run \(loginCommand)")
        }
        guard let cached = try? JSONDecoder().decode(Cached.self, from: data), let expiry = AWSTimestamp.parse(cached.expiresAt) else {
            throw CredentialSourceError.failed("\(name): \(tokenFile) is not an SSO token cache: run \(loginCommand)")
        }
        guard expiry > now else {
            throw CredentialSourceError.failed("\(name): the SSO token expired at \(cached.expiresAt): run \(loginCommand)")
        }
        return cached.accessToken
    }

    /// GetRoleCredentials: the token goes in `x-amz-sso_bearer_token`; the request is not signed.
    func request(token: String) -> HTTPRequest {
        let query = SigV4Signer.canonicalQuery([("account_id", accountID), ("role_name", roleName)])
        return HTTPRequest(
            method: "GET", url: portal.url("/federation/credentials?\(query)"),
            headers: [("host", portal.host), ("x-amz-sso_bearer_token", token)])
    }

    func fetch() throws -> S3Credentials {
        let request = request(token: try accessToken())
        let response = try http.sendExpectingSuccess(label: "SSO GetRoleCredentials at \(portal.host)") { request }
        return try Self.credentials(in: response.body, source: name)
    }

    /// `{"roleCredentials": {"accessKeyId", "secretAccessKey", "sessionToken", "expiration"}}`,
    /// the expiration in milliseconds since 1970.
    static func credentials(in body: [UInt8], source: String) throws -> S3Credentials {
        struct Answer: Decodable {
            struct RoleCredentials: Decodable {
                var accessKeyId: String
                var secretAccessKey: String
                var sessionToken: String?
                var expiration: Int64?
            }
            var roleCredentials: RoleCredentials
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body)) else {
            throw CredentialSourceError.failed("SSO GetRoleCredentials answered without roleCredentials")
        }
        let role = answer.roleCredentials
        return S3Credentials(
            accessKeyID: role.accessKeyId, secretAccessKey: role.secretAccessKey, sessionToken: role.sessionToken,
            source: source, expiration: role.expiration.map { Date(timeIntervalSince1970: TimeInterval($0) / 1000) })
    }
}

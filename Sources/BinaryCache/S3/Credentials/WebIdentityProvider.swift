import Foundation

/// STS `AssumeRoleWithWebIdentity` with an OIDC token from a file: GitHub Actions' OIDC, EKS
/// IRSA. The file is read again at every fetch, because whoever writes it rotates the token.
struct WebIdentityProvider: CredentialProvider {
    let tokenFile: String
    let roleARN: String
    let sessionName: String
    let sts: STSClient
    let name: String

    /// From `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN` and `AWS_ROLE_SESSION_NAME`.
    static func fromEnvironment(_ settings: AWSSettings, sts: @autoclosure () throws -> STSClient) throws -> WebIdentityProvider {
        guard let tokenFile = settings.variable("AWS_WEB_IDENTITY_TOKEN_FILE") else {
            throw CredentialSourceError.unavailable("AWS_WEB_IDENTITY_TOKEN_FILE is not set")
        }
        guard let roleARN = settings.variable("AWS_ROLE_ARN") else {
            throw CredentialSourceError.failed("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")
        }
        return WebIdentityProvider(
            tokenFile: tokenFile, roleARN: roleARN,
            sessionName: settings.variable("AWS_ROLE_SESSION_NAME") ?? defaultSessionName, sts: try sts(),
            name: "web identity (\(roleARN))")
    }

    /// What STS records as the session when none is named: the tool and the time, as the SDKs do.
    static var defaultSessionName: String { "narsync-\(Int(Date().timeIntervalSince1970))" }

    func fetch() throws -> S3Credentials {
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw CredentialSourceError.failed("cannot read the web identity token file \(tokenFile): \(error.localizedDescription)")
        }
        guard !token.isEmpty else { throw CredentialSourceError.failed("the web identity token file \(tokenFile) is empty") }
        return try sts.assumeRoleWithWebIdentity(roleARN: roleARN, sessionName: sessionName, token: token, label: name)
    }
}

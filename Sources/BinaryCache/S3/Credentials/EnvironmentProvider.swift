/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
struct EnvironmentProvider: CredentialProvider {
    let settings: AWSSettings

    var name: String { "environment" }

    func fetch() throws -> S3Credentials {
        guard let keyID = settings.variable("AWS_ACCESS_KEY_ID") else {
            throw CredentialSourceError.unavailable("AWS_ACCESS_KEY_ID is not set")
        }
        guard let secret = settings.variable("AWS_SECRET_ACCESS_KEY") else {
            throw CredentialSourceError.failed("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither")
        }
        return S3Credentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: settings.variable("AWS_SESSION_TOKEN"),
            source: "AWS_ACCESS_KEY_ID")
    }
}

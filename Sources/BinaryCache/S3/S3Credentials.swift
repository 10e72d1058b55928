import Foundation

/// An AWS access key. The secret never leaves this value: `description`, `dump` and the
/// debugger show only the key ID and where the key came from.
public struct S3Credentials: Sendable, CustomStringConvertible, CustomReflectable {
    public var accessKeyID: String
    public var secretAccessKey: String
    /// Present with temporary credentials; sent as `x-amz-security-token`.
    public var sessionToken: String?
    /// Where the key was found, for messages: "AWS_ACCESS_KEY_ID", "/root/.aws/credentials [ci]".
    public var source: String
    /// When temporary credentials stop working; nil for long-term keys.
    public var expiration: Date?

    public init(
        accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, source: String, expiration: Date? = nil
    ) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
        self.expiration = expiration
    }

    public var description: String { "access key \(accessKeyID) from \(source)" }

    public var customMirror: Mirror {
        Mirror(self, children: ["accessKeyID": accessKeyID, "source": source, "expiration": expiration as Any])
    }

    /// The credentials of the first source of the AWS SDKs' chain that has some (see
    /// `CredentialChain`), with the profile named in the store URL, if any. Blocks while
    /// providers ask STS, the container agent or instance metadata: call it off the
    /// cooperative pool.
    public static func resolve(profile: String?, environment: [String: String]) throws -> S3Credentials {
        let settings = AWSSettings(environment: environment, profile: profile)
        return try CredentialChain(settings: settings).resolve().credentials
    }

    /// The sections of an AWS INI file (see `AWSConfigFiles.parseINI`).
    static func parseINI(_ text: String) -> [String: [String: String]] {
        AWSConfigFiles.parseINI(text)
    }
}

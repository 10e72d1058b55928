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

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, source: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var description: String { "access key \(accessKeyID) from \(source)" }

    public var customMirror: Mirror {
        Mirror(self, children: ["accessKeyID": accessKeyID, "source": source])
    }

    /// Finds credentials the way AWS tools do: a profile named in the store URL selects that
    /// profile of the shared credentials file (as `aws --profile` would, and as Nix does);
    /// otherwise `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, then the
    /// shared credentials file (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`) with
    /// the profile `AWS_PROFILE` or `default`.
    public static func resolve(profile: String?, environment: [String: String]) throws -> S3Credentials {
        let variable = { (name: String) in environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if profile == nil, let keyID = variable("AWS_ACCESS_KEY_ID") {
            guard let secret = variable("AWS_SECRET_ACCESS_KEY") else {
                throw DestinationError.configuration(
                    "S3", "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", hint: "set both, or neither")
            }
            return S3Credentials(
                accessKeyID: keyID, secretAccessKey: secret, sessionToken: variable("AWS_SESSION_TOKEN"),
                source: "AWS_ACCESS_KEY_ID")
        }
        let file = variable("AWS_SHARED_CREDENTIALS_FILE") ?? "\(variable("HOME") ?? NSHomeDirectory())/.aws/credentials"
        let name = profile ?? variable("AWS_PROFILE") ?? "default"
        let missing = DestinationError.configuration(
            "S3", "no AWS credentials: AWS_ACCESS_KEY_ID is not set and \(file) has no profile [\(name)]",
            hint: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                + "or add aws_access_key_id and aws_secret_access_key to [\(name)] in \(file)")
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw missing }
        guard let section = parseINI(text)[name], let keyID = section["aws_access_key_id"] else { throw missing }
        guard let secret = section["aws_secret_access_key"] else {
            throw DestinationError.configuration(
                "S3", "profile [\(name)] of \(file) has aws_access_key_id but no aws_secret_access_key")
        }
        return S3Credentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: section["aws_session_token"],
            source: "\(file) [\(name)]")
    }

    /// The sections of an AWS INI file: `[name]` headers, `key = value` lines, `#`/`;` comments.
    static func parseINI(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[current, default: [:]][key] = value
        }
        return sections
    }
}

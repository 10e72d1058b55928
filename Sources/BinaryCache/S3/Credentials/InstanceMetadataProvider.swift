import Foundation
import SystemSupport

/// EC2 instance metadata, IMDSv2 only: a PUT for a session token, then GETs with it. At
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` (or the profile's `ec2_metadata_service_endpoint`),
/// else 169.254.169.254. Short timeouts (see `CredentialHTTP.local`): a machine that is not
/// on EC2 learns so within seconds, and once it has, the client does not ask again.
final class InstanceMetadataClient: Sendable {
    let endpoint: String
    private let disabled: Bool
    private let http: CredentialHTTP
    /// Why instance metadata cannot be reached, once it could not be at the first try; a
    /// machine where it answered once keeps asking (refreshes must survive a hiccup).
    private let reachability = Locked<(unreachable: String?, reached: Bool)>((nil, false))

    init(settings: AWSSettings, http: CredentialHTTP) {
        endpoint = settings.variable("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            ?? settings.profile?["ec2_metadata_service_endpoint"] ?? "http://169.254.169.254"
        disabled = settings.instanceMetadataDisabled
        self.http = http
    }

    /// GETs `path` (under `/latest/`) with a fresh session token.
    func get(_ path: String) throws -> [UInt8] {
        if disabled { throw CredentialSourceError.unavailable("AWS_EC2_METADATA_DISABLED is true") }
        if let reason = reachability.withLock({ $0.unreachable }) { throw CredentialSourceError.unavailable(reason) }
        let base = try ServiceEndpoint(endpoint)
        let token: [UInt8]
        do {
            let tokenRequest = HTTPRequest(
                method: "PUT", url: base.url("/latest/api/token"),
                headers: [("host", base.host), ("x-aws-ec2-metadata-token-ttl-seconds", "21600")])
            token = try http.sendExpectingSuccess(label: "instance metadata token at \(base.host)") { tokenRequest }.body
        } catch {
            let reason = "no instance metadata at \(endpoint) (\(error))"
            let reachedBefore = reachability.withLock { state in
                if !state.reached { state.unreachable = reason }
                return state.reached
            }
            throw reachedBefore ? CredentialSourceError.failed(reason) : CredentialSourceError.unavailable(reason)
        }
        reachability.withLock { $0.reached = true }
        let request = HTTPRequest(
            method: "GET", url: base.url("/latest/\(path)"),
            headers: [("host", base.host), ("x-aws-ec2-metadata-token", String(decoding: token, as: UTF8.self))])
        return try http.sendExpectingSuccess(label: "instance metadata \(path)") { request }.body
    }

    /// The instance's region, or nil when there is no instance metadata.
    func region() -> String? {
        guard let bytes = try? get("meta-data/placement/region") else { return nil }
        let region = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return region.isEmpty || region.contains("<") ? nil : region
    }
}

/// The credentials of the instance's role: the role's name, then its credentials document.
struct InstanceMetadataProvider: CredentialProvider {
    let client: InstanceMetadataClient

    var name: String { "EC2 instance metadata" }

    func fetch() throws -> S3Credentials {
        let roles = String(decoding: try client.get("meta-data/iam/security-credentials/"), as: UTF8.self)
        guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
            throw CredentialSourceError.unavailable("the instance at \(client.endpoint) has no IAM role")
        }
        let source = "EC2 instance metadata (role \(role))"
        let document = try CredentialDocument.parse(client.get("meta-data/iam/security-credentials/\(role)"), origin: source)
        if let code = document.code, code != "Success" {
            throw CredentialSourceError.failed("\(source) answered Code \(code)")
        }
        return try document.credentials(source: source, origin: source)
    }
}

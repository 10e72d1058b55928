import Foundation

/// ECS (and EKS Pod Identity) container credentials: a GET to
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, or to `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on the
/// ECS agent at 169.254.170.2, with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read again at
/// every fetch) or `AWS_CONTAINER_AUTHORIZATION_TOKEN` as the `Authorization` header.
struct ContainerProvider: CredentialProvider {
    let endpoint: ServiceEndpoint
    let url: String
    let settings: AWSSettings
    let http: CredentialHTTP

    var name: String { "ECS container credentials (\(endpoint.host))" }

    /// Plain HTTP only to this machine and to the agents' link-local addresses, as the SDKs
    /// allow: a token sent elsewhere in the clear could be overheard.
    static let agentHosts: Set<String> = ["169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"]

    init(settings: AWSSettings, http: CredentialHTTP) throws {
        if let relative = settings.variable("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            url = "http://169.254.170.2" + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = settings.variable("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            url = full
        } else {
            throw CredentialSourceError.unavailable("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI are not set")
        }
        endpoint = try ServiceEndpoint(url)
        guard endpoint.scheme == "https" || endpoint.isLoopback || Self.agentHosts.contains(endpoint.host) else {
            throw CredentialSourceError.failed(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI may use plain http only to this machine or the ECS/EKS agent, not \(endpoint.host)")
        }
        self.settings = settings
        self.http = http
    }

    func fetch() throws -> S3Credentials {
        var headers = [(name: "host", value: endpoint.host)]
        if let token = try authorizationToken() { headers.append(("authorization", token)) }
        let request = HTTPRequest(method: "GET", url: url, headers: headers)
        let response = try http.sendExpectingSuccess(label: "container credentials at \(endpoint.host)") { request }
        return try CredentialDocument.parse(response.body, origin: name).credentials(source: name, origin: name)
    }

    private func authorizationToken() throws -> String? {
        if let file = settings.variable("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            do {
                return try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw CredentialSourceError.failed("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(file)")
            }
        }
        return settings.variable("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    }
}

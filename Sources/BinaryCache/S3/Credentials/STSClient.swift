import Foundation
import NixStore

/// AWS STS's `AssumeRole` and `AssumeRoleWithWebIdentity`, whose temporary keys (ASIA...)
/// come back in XML. The endpoint is `AWS_ENDPOINT_URL_STS` (or `AWS_ENDPOINT_URL`, or the
/// profile's `endpoint_url`), else STS in the region.
struct STSClient: Sendable {
    let endpoint: ServiceEndpoint
    let region: String
    let http: CredentialHTTP

    init(settings: AWSSettings, http: CredentialHTTP) throws {
        region = settings.configuredRegion ?? "us-east-1"
        endpoint = try ServiceEndpoint(settings.endpoint(service: "STS") ?? "https://sts.\(region).amazonaws.com")
        self.http = http
    }

    /// The role's session in the name of `source`, whose keys sign the request.
    func assumeRole(
        roleARN: String, sessionName: String, externalID: String?, durationSeconds: Int?, source: S3Credentials, label: String
    ) throws -> S3Credentials {
        var parameters = [("Action", "AssumeRole"), ("RoleArn", roleARN), ("RoleSessionName", sessionName)]
        if let externalID { parameters.append(("ExternalId", externalID)) }
        if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
        return try call(parameters, signedWith: source, label: label)
    }

    /// The role's session for an OIDC token (GitHub Actions, EKS): the request is not signed;
    /// the token is the proof.
    func assumeRoleWithWebIdentity(roleARN: String, sessionName: String, token: String, label: String) throws -> S3Credentials {
        try call(
            [("Action", "AssumeRoleWithWebIdentity"), ("RoleArn", roleARN), ("RoleSessionName", sessionName),
             ("WebIdentityToken", token)],
            signedWith: nil, label: label)
    }

    private func call(_ parameters: [(String, String)], signedWith signer: S3Credentials?, label: String) throws -> S3Credentials {
        let body = Array(((parameters + [("Version", "2011-06-15")]).map { "\(S3Path.encode($0.0))=\(S3Path.encode($0.1))" }
            .joined(separator: "&")).utf8)
        let request = Self.request(endpoint: endpoint, region: region, body: body, signer: signer)
        let action = parameters[0].1
        let response = try http.sendExpectingSuccess(label: "STS \(action) at \(endpoint.host)", request)
        return try Self.credentials(in: response.body, source: label, action: action)
    }

    /// Builds each attempt's POST, signed (SigV4, service "sts") when there are keys to sign with.
    static func request(endpoint: ServiceEndpoint, region: String, body: [UInt8], signer: S3Credentials?) -> @Sendable () -> HTTPRequest {
        let payloadHash = SHA256Hasher.hash(body).hex
        return {
            var headers = [("content-type", "application/x-www-form-urlencoded; charset=utf-8"), ("host", endpoint.host)]
            if let signer {
                let timestamp = SigV4Signer.timestamp(Date())
                headers += [("x-amz-date", timestamp), ("x-amz-content-sha256", payloadHash)]
                if let token = signer.sessionToken { headers.append(("x-amz-security-token", token)) }
                let signed = SigV4Signer.Request(
                    method: "POST", canonicalURI: endpoint.path + "/", query: [], headers: headers,
                    payloadHash: payloadHash)
                let authorization = SigV4Signer(credentials: signer, region: region, service: "sts")
                    .authorization(for: signed, timestamp: timestamp)
                headers.append(("authorization", authorization))
            }
            return HTTPRequest(method: "POST", url: endpoint.url("/"), headers: headers, body: .bytes(body))
        }
    }

    /// The `<Credentials>` of an STS answer.
    static func credentials(in body: [UInt8], source: String, action: String) throws -> S3Credentials {
        let xml = Substring(String(decoding: body, as: UTF8.self))
        guard let element = S3XML.elements("Credentials", in: xml).first,
              let keyID = S3XML.value("AccessKeyId", in: element), let secret = S3XML.value("SecretAccessKey", in: element)
        else { throw CredentialSourceError.failed("STS \(action) answered without credentials") }
        let expiration = S3XML.value("Expiration", in: element).flatMap(AWSTimestamp.parse)
        return S3Credentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: S3XML.value("SessionToken", in: element),
            source: source, expiration: expiration)
    }
}

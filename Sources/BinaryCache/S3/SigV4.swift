internal import CCrypto
import Foundation
import NixStore

/// AWS Signature Version 4 for S3, by the rules of the AWS documentation ("Authenticating
/// Requests: Using the Authorization Header").
struct SigV4Signer: Sendable {
    var credentials: S3Credentials
    var region: String
    var service = "s3"

    /// The parts of a request the signature covers.
    struct Request {
        var method: String
        /// The URI-encoded path as sent (see `S3Path.encode`).
        var canonicalURI: String
        var query: [(name: String, value: String)]
        /// Headers to sign, `host` among them; names in any case.
        var headers: [(name: String, value: String)]
        /// Hex SHA-256 of the body, also sent as `x-amz-content-sha256`.
        var payloadHash: String
    }

    /// The value of the `Authorization` header for `request` made at `timestamp`
    /// (`yyyyMMdd'T'HHmmss'Z'`, as in `x-amz-date`).
    func authorization(for request: Request, timestamp: String) -> String {
        let (canonical, signedHeaders) = Self.canonicalRequest(request)
        let day = String(timestamp.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let signature = hexHMAC(stringToSign: Self.stringToSign(canonical, timestamp: timestamp, scope: scope), day: day)
        return "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope),"
            + "SignedHeaders=\(signedHeaders),Signature=\(signature)"
    }

    /// The canonical request and its `SignedHeaders` list.
    static func canonicalRequest(_ request: Request) -> (text: String, signedHeaders: String) {
        let headers = request.headers
            .map { (name: $0.name.lowercased(), value: normalizeHeaderValue($0.value)) }
            .sorted { $0.name < $1.name }
        let signedHeaders = headers.map(\.name).joined(separator: ";")
        let text = [
            request.method,
            request.canonicalURI,
            canonicalQuery(request.query),
            headers.map { "\($0.name):\($0.value)\n" }.joined(),
            signedHeaders,
            request.payloadHash,
        ].joined(separator: "\n")
        return (text, signedHeaders)
    }

    /// Query parameters URI-encoded and sorted by name, then value; also the query string sent.
    static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        let encoded: [(name: String, value: String)] = query.map { (S3Path.encode($0.name), S3Path.encode($0.value)) }
        let sorted = encoded.sorted { ($0.name, $0.value) < ($1.name, $1.value) }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    static func stringToSign(_ canonicalRequest: String, timestamp: String, scope: String) -> String {
        let hash = SHA256Hasher.hash(Array(canonicalRequest.utf8)).hex
        return "AWS4-HMAC-SHA256\n\(timestamp)\n\(scope)\n\(hash)"
    }

    private func hexHMAC(stringToSign: String, day: String) -> String {
        var key = hmacSHA256(key: Array("AWS4\(credentials.secretAccessKey)".utf8), Array(day.utf8))
        for part in [region, service, "aws4_request"] { key = hmacSHA256(key: key, Array(part.utf8)) }
        return SHA256Digest(bytes: hmacSHA256(key: key, Array(stringToSign.utf8))).hex
    }

    /// Trims and collapses runs of spaces, as canonical headers require.
    private static func normalizeHeaderValue(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            .trimmingCharacters(in: .whitespaces)
    }

    /// `x-amz-date`'s form of `date`: `20130524T000000Z`.
    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d%02d%02dT%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}

/// HMAC-SHA256 through libcrypto.
func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    key.withUnsafeBytes { keyBytes in
        message.withUnsafeBytes { messageBytes in
            _ = HMAC(
                EVP_sha256(), keyBytes.baseAddress, Int32(keyBytes.count),
                messageBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), messageBytes.count, &output, &length)
        }
    }
    return Array(output.prefix(Int(length)))
}

/// URI encoding as SigV4 and S3 want it: every byte but `A-Z a-z 0-9 - _ . ~` percent-encoded
/// in uppercase hex.
enum S3Path {
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// Encodes each `/`-separated segment of a key, keeping the slashes.
    static func encodeKey(_ key: String) -> String {
        key.split(separator: "/", omittingEmptySubsequences: false).map { encode(String($0)) }.joined(separator: "/")
    }
}

import Foundation

/// One place AWS credentials can come from: the environment, a profile, STS, the container
/// agent, instance metadata. `fetch` blocks (files, subprocesses, HTTP): call it from a
/// dedicated thread, never from Swift's cooperative pool.
public protocol CredentialProvider: Sendable {
    /// For messages and logs: "environment", "profile [ci] credential_process", "EC2 instance metadata".
    var name: String { get }

    /// Fresh credentials from this source.
    /// - Throws: `CredentialSourceError.unavailable` when the source is not set up here (the
    ///   chain moves on), `.failed` when it is set up but did not give credentials.
    func fetch() throws -> S3Credentials
}

/// Why a credential source gave nothing. Messages never hold a secret or a token.
public enum CredentialSourceError: Error, CustomStringConvertible, Sendable {
    /// Not set up here: "AWS_ACCESS_KEY_ID is not set". The chain tries the next source.
    case unavailable(String)
    /// Set up, but it failed: "STS AssumeRole answered HTTP 403 AccessDenied". The chain stops,
    /// since skipping a source the user set up would sign with credentials they did not mean.
    case failed(String)

    public var description: String {
        switch self {
        case .unavailable(let reason), .failed(let reason): reason
        }
    }
}

/// Credentials given once, never refreshed: for tests and callers that have keys in hand.
public struct StaticCredentialProvider: CredentialProvider {
    public let credentials: S3Credentials

    public init(_ credentials: S3Credentials) { self.credentials = credentials }

    public var name: String { credentials.source }

    public func fetch() throws -> S3Credentials { credentials }
}

/// The credentials of the JSON documents that the container agent, instance metadata and
/// `credential_process` hand out (`AccessKeyId`, `SecretAccessKey`, `Token` or
/// `SessionToken`, `Expiration`).
struct CredentialDocument: Decodable {
    var accessKeyID: String
    var secretAccessKey: String
    var token: String?
    var sessionToken: String?
    var expiration: String?
    var version: Int?
    var code: String?

    enum CodingKeys: String, CodingKey {
        case accessKeyID = "AccessKeyId", secretAccessKey = "SecretAccessKey", token = "Token"
        case sessionToken = "SessionToken", expiration = "Expiration", version = "Version", code = "Code"
    }

    /// Parses `bytes`; a message that names `origin` when they are no such document.
    static func parse(_ bytes: [UInt8], origin: String) throws -> CredentialDocument {
        do {
            return try JSONDecoder().decode(CredentialDocument.self, from: Data(bytes))
        } catch {
            throw CredentialSourceError.failed("\(origin) did not answer with AccessKeyId and SecretAccessKey in JSON")
        }
    }

    func credentials(source: String, origin: String) throws -> S3Credentials {
        var expirationDate: Date?
        if let expiration {
            guard let date = AWSTimestamp.parse(expiration) else {
                throw CredentialSourceError.failed("\(origin) gave an Expiration that is not an ISO 8601 time: \(expiration)")
            }
            expirationDate = date
        }
        return S3Credentials(
            accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken ?? token,
            source: source, expiration: expirationDate)
    }
}

/// ISO 8601 times as AWS writes them: `2026-12-06T06:00:29Z`, `2026-12-06T06:00:29.126545Z`,
/// `2026-12-06T06:00:29+00:00`; also S3's `LastModified` and `Initiated` (`2026-12-06T05:00:00.000Z`).
enum AWSTimestamp {
    static func parse(_ text: String) -> Date? {
        let characters = Array(text.trimmingCharacters(in: .whitespaces).utf8)
        guard characters.count >= 19 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            Int(String(decoding: characters[range], as: UTF8.self))
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              characters[4] == UInt8(ascii: "-"), characters[7] == UInt8(ascii: "-"),
              characters[10] == UInt8(ascii: "T") || characters[10] == UInt8(ascii: " ")
        else { return nil }
        var rest = characters[19...]
        var fraction = 0.0
        if rest.first == UInt8(ascii: ".") {
            let digits = rest.dropFirst().prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
            fraction = Double("0." + String(decoding: digits, as: UTF8.self)) ?? 0
            rest = rest.dropFirst(1 + digits.count)
        }
        var offset = 0
        switch rest.first {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"), nil:
            break
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let zone = String(decoding: rest.dropFirst(), as: UTF8.self).replacingOccurrences(of: ":", with: "")
            guard zone.count == 4, let hours = Int(zone.prefix(2)), let minutes = Int(zone.suffix(2)) else { return nil }
            offset = (hours * 3600 + minutes * 60) * (rest.first == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        return HTTPDates.date(year: year, month: month, day: day, hour: hour, minute: minute, second: second, fraction: fraction)?
            .addingTimeInterval(-TimeInterval(offset))
    }
}

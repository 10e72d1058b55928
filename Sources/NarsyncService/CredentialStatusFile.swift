import BinaryCache
import Foundation
import NixStore
import SystemSupport

/// Where `narsync watch` leaves each S3 destination's credential status (source, access key
/// ID, expiry, refresh failures; never a secret) for `narsync status`, which reads the state
/// directory without the service: `STATE-DIR/credentials/<hash of the destination>.json`.
public enum CredentialStatusFile {
    public struct Entry: Codable {
        var destination: String
        var credentials: CredentialStatus
    }

    public static func directory(stateDirectory: String) -> String { "\(stateDirectory)/credentials" }

    /// Writes `status` for `destination` (on the credentials' refresher thread; errors are
    /// not the service's problem, only the status display's).
    public static func write(_ status: CredentialStatus, destination: String, stateDirectory: String) {
        let directory = directory(stateDirectory: stateDirectory)
        let name = SHA256Hasher.hash(Array(destination.utf8)).hex.prefix(32)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(Entry(destination: destination, credentials: status)) else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? writeFileAtomically(Array(data), to: "\(directory)/\(name).json", mode: 0o600)
    }

    /// Every destination's last written status, by destination name.
    public static func readAll(stateDirectory: String) -> [String: CredentialStatus] {
        let directory = directory(stateDirectory: stateDirectory)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var statuses: [String: CredentialStatus] = [:]
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where file.hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(file)"),
                  let entry = try? decoder.decode(Entry.self, from: data) else { continue }
            statuses[entry.destination] = entry.credentials
        }
        return statuses
    }

    /// One line for people: "AWS credentials from X, access key AKIA..., expire 2026-...".
    public static func describe(_ status: CredentialStatus) -> String {
        var text = "AWS credentials from \(status.source), access key \(status.accessKeyID), "
        text += status.expiration.map { "expire \(ISO8601DateFormatter().string(from: $0))" } ?? "do not expire"
        if status.refreshFailures > 0 { text += ", \(status.refreshFailures) failed refreshes" }
        if let problem = status.refreshProblem { text += "; refreshing fails: \(problem)" }
        return text
    }
}

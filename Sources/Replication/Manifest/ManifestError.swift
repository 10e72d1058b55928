import Foundation

/// Why the manifest cannot be used, with the file and what to do about it.
public enum ManifestError: Error, CustomStringConvertible, Equatable {
    case missing(path: String)
    /// The state directory cannot be written (read-only file system, permissions).
    case stateDirectoryNotWritable(directory: String, reason: String)
    case schemaMismatch(path: String, found: Int, expected: Int)
    case invalidStoredPath(path: String, value: String)
    case invalidStoredHash(path: String, value: String)
    case unknownUpload(destination: String, key: String, uploadID: String)

    public var description: String {
        switch self {
        case .missing(let path):
            "no narsync manifest at \(path): check --state-dir, or start `narsync watch` once to create it"
        case .stateDirectoryNotWritable(let directory, let reason):
            "cannot write the state directory \(directory) (\(reason)): narsync keeps its manifest there; make it writable or choose another --state-dir"
        case .schemaMismatch(let path, let found, let expected) where found > expected:
            "the manifest \(path) has schema version \(found), written by a newer narsync; this one knows up to \(expected): upgrade narsync"
        case .schemaMismatch(let path, let found, let expected):
            "the manifest \(path) has schema version \(found), this narsync expects \(expected): start `narsync watch` once to migrate it"
        case .invalidStoredPath(let path, let value):
            "the manifest \(path) holds '\(value)', which is not a store path; the file was changed outside narsync"
        case .invalidStoredHash(let path, let value):
            "the manifest \(path) holds '\(value)', which is not a file hash; the file was changed outside narsync"
        case .unknownUpload(let destination, let key, let uploadID):
            "a part was stored for the multipart upload \(uploadID) of \(key) at \(destination), which the manifest never saw start"
        }
    }
}

extension ManifestError {
    /// Creates the state directory if needed; throws `stateDirectoryNotWritable` if narsync
    /// cannot write there.
    static func requireWritable(stateDirectory: String) throws {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        guard access(stateDirectory, W_OK) == 0 else {
            throw stateDirectoryNotWritable(directory: stateDirectory, reason: String(cString: strerror(errno)))
        }
    }
}

import Foundation
import SystemSupport

/// Proof that this process is the only `narsync watch` using a state directory.
///
/// Two services over one manifest would take the same queued paths and interleave their
/// multipart journals, so the second one must refuse to start. The lock is `flock(2)` on
/// `<stateDirectory>/lock`: the kernel releases it when the process dies, even by `kill -9`,
/// so a crash never leaves a stale lock behind. The file holds the owner's pid, for the message.
public final class StateDirectoryLock: Sendable {
    public let path: String
    private let descriptor: FileDescriptor

    public static let fileName = "lock"

    /// Takes the lock without waiting; throws `StateDirectoryLockError.inUse` if another
    /// process holds it.
    public init(stateDirectory: String) throws {
        try ManifestError.requireWritable(stateDirectory: stateDirectory)
        path = "\(stateDirectory)/\(Self.fileName)"
        descriptor = try FileDescriptor(path: path, flags: O_RDWR | O_CREAT, mode: 0o600)
        guard retryingOnInterrupt({ flock(descriptor.rawValue, LOCK_EX | LOCK_NB) }) == 0 else {
            guard errno == EWOULDBLOCK else { throw SystemError("cannot lock", path) }
            throw StateDirectoryLockError.inUse(stateDirectory: stateDirectory, pid: Self.owner(of: path))
        }
        let pid = Array("\(getpid())\n".utf8)
        guard ftruncate(descriptor.rawValue, 0) == 0 else { throw SystemError("cannot write", path) }
        try pid.withUnsafeBytes { try descriptor.writeAll($0, path: path) }
    }

    /// Lets the next service (after SIGHUP, or another process) take the state directory.
    public func release() {
        descriptor.close()
    }

    private static func owner(of path: String) -> Int32? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
            Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}

public enum StateDirectoryLockError: Error, CustomStringConvertible, Sendable {
    case inUse(stateDirectory: String, pid: Int32?)

    public var description: String {
        switch self {
        case .inUse(let directory, let pid):
            let owner = pid.map { "another narsync watch (pid \($0))" } ?? "another narsync watch"
            return "the state directory \(directory) is in use by \(owner); stop it first, or give this one its own --state-dir"
        }
    }
}

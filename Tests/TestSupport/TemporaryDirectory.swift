import Foundation

/// A fresh directory under the system's temporary directory, removed with everything in it
/// (including Nix's read-only store trees) when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(prefix: String = "narsync-test") throws {
        let base = NSTemporaryDirectory().hasSuffix("/") ? String(NSTemporaryDirectory().dropLast()) : NSTemporaryDirectory()
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else {
            throw TestFailure("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        path = String(cString: created)
    }

    deinit { Self.removeTree(path) }

    /// `path/component`.
    public func appending(_ component: String) -> String { "\(path)/\(component)" }

    /// Removes a tree, making read-only directories (as Nix leaves them) writable first.
    public static func removeTree(_ path: String) {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return }
        chmod(path, 0o755)
        while let relative = enumerator.nextObject() as? String {
            let full = "\(path)/\(relative)"
            var info = stat()
            if lstat(full, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { chmod(full, 0o755) }
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A failure in the test harness itself, with what went wrong.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

import Foundation

/// A failed system call, with the file or object it was about.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// What narsync was doing, e.g. "cannot open".
    public var operation: String
    /// The file, socket or other object concerned.
    public var subject: String
    public var errno: Int32

    public init(_ operation: String, _ subject: String, errno: Int32 = Foundation.errno) {
        self.operation = operation
        self.subject = subject
        self.errno = errno
    }

    public var description: String {
        "\(operation) '\(subject)': \(String(cString: strerror(errno)))"
    }
}

/// Retries a system call interrupted by a signal.
@inline(__always)
public func retryingOnInterrupt<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}

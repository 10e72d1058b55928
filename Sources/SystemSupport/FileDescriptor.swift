import Foundation

/// An owned POSIX file descriptor, closed exactly once.
public final class FileDescriptor: @unchecked Sendable {
    public let rawValue: Int32
    private var isClosed = false

    public init(owning rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// Opens `path` with `open(2)` flags; `O_CLOEXEC` is always added.
    public convenience init(path: String, flags: Int32, mode: mode_t = 0o644) throws {
        let fd = retryingOnInterrupt { open(path, flags | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw SystemError("cannot open", path) }
        self.init(owning: fd)
    }

    deinit { close() }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        _ = Glibc.close(rawValue)
    }

    /// Reads up to `buffer.count` bytes; 0 means end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, path: String) throws -> Int {
        let count = retryingOnInterrupt { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
        guard count >= 0 else { throw SystemError("cannot read", path) }
        return count
    }

    /// Writes all of `bytes`, however many calls that takes.
    public func writeAll(_ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = retryingOnInterrupt {
                Glibc.write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
            }
            guard written >= 0 else { throw SystemError("cannot write", path) }
            offset += written
        }
    }

    public func sync(path: String) throws {
        guard retryingOnInterrupt({ fsync(rawValue) }) == 0 else { throw SystemError("cannot fsync", path) }
    }
}

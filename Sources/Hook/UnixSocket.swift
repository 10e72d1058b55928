import Foundation
import SystemSupport

/// The few socket calls the hook client and server share, on non-blocking Unix stream sockets.
enum UnixSocket {
    /// A new non-blocking, close-on-exec Unix stream socket.
    static func make(path: String) throws -> FileDescriptor {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("cannot create a socket for", path) }
        return FileDescriptor(owning: fd)
    }

    /// Sets O_NONBLOCK and FD_CLOEXEC (Swift's Glibc lacks accept4 and pipe2, which would).
    static func makeNonBlocking(_ fd: FileDescriptor) {
        _ = fcntl(fd.rawValue, F_SETFL, fcntl(fd.rawValue, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd.rawValue, F_SETFD, FD_CLOEXEC)
    }

    /// Calls `body` with `path` as a `sockaddr_un`.
    static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) throws -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw SystemError("the socket path is too long (at most \(capacity - 1) bytes)", path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// Waits until `fd` is ready for `events` or `deadline` passes; false on timeout.
    static func wait(_ fd: FileDescriptor, for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return false }
            var entry = pollfd(fd: fd.rawValue, events: events, revents: 0)
            let result = poll(&entry, 1, milliseconds(remaining))
            if result > 0 { return true }
            if result < 0 && errno != EINTR { return true }  // Let the next call report the error.
        }
    }

    /// `duration` in whole milliseconds for poll(2), rounded up so that waits never spin.
    static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        let total = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(0, total))
    }

    /// Sends what fits without blocking; returns the number of bytes sent, 0 if none fit.
    static func send(_ fd: FileDescriptor, _ bytes: ArraySlice<UInt8>) -> Int? {
        let sent = bytes.withUnsafeBytes { buffer in
            retryingOnInterrupt { Glibc.send(fd.rawValue, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
        }
        if sent >= 0 { return sent }
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : nil
    }
}

import Foundation
import SystemSupport

/// Tells systemd how the service is doing (sd_notify(3)): `READY=1` once watching, `STATUS=`
/// lines, `STOPPING=1`, and watchdog pings when the unit has `WatchdogSec=`.
///
/// Sends datagrams to the AF_UNIX socket named by `NOTIFY_SOCKET` (a path, or an abstract name
/// written with a leading `@`). Without `NOTIFY_SOCKET` every call does nothing, so the service
/// runs the same under systemd, in a terminal and in tests.
public final class SystemdNotifier: Sendable {
    /// How often to call `watchdog()`: half of systemd's `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
    /// advises; nil when the unit has no watchdog or it is meant for another process.
    public let watchdogInterval: Duration?
    private let socket: FileDescriptor?
    private let address: SocketAddress?

    public var isEnabled: Bool { socket != nil }

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        watchdogInterval = Self.watchdogInterval(environment)
        guard let name = environment["NOTIFY_SOCKET"], !name.isEmpty else {
            socket = nil
            address = nil
            return
        }
        address = try SocketAddress(name)
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("cannot create a socket for", "NOTIFY_SOCKET=\(name)") }
        socket = FileDescriptor(owning: fd)
    }

    /// The service is up: the watcher is watching.
    public func ready() throws { try send("READY=1") }

    /// The service is reloading its configuration; call `ready()` when done.
    public func reloading() throws {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        try send("RELOADING=1\nMONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)")
    }

    /// The service is shutting down.
    public func stopping() throws { try send("STOPPING=1") }

    /// One line for `systemctl status`, e.g. "watching; 12 queued, 3 retrying".
    public func status(_ text: String) throws {
        // A newline would end the assignment and start another.
        try send("STATUS=" + text.replacingOccurrences(of: "\n", with: " "))
    }

    /// The service is alive; due every `watchdogInterval`.
    public func watchdog() throws { try send("WATCHDOG=1") }

    /// Sends newline-separated assignments as one datagram.
    public func send(_ assignments: String) throws {
        guard let socket, var address else { return }
        let bytes = Array(assignments.utf8)
        let sent = withUnsafePointer(to: &address.storage) { storage in
            storage.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
                retryingOnInterrupt { sendto(socket.rawValue, bytes, bytes.count, Int32(MSG_NOSIGNAL), target, address.length) }
            }
        }
        guard sent == bytes.count else { throw SystemError("cannot notify systemd at", address.name) }
    }

    private static func watchdogInterval(_ environment: [String: String]) -> Duration? {
        if let pid = environment["WATCHDOG_PID"], pid != String(getpid()) { return nil }
        guard let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 else { return nil }
        return .microseconds(microseconds) / 2
    }
}

/// An AF_UNIX address as systemd writes it in `NOTIFY_SOCKET`.
struct SocketAddress: Sendable {
    let name: String
    var storage = sockaddr_un()
    let length: socklen_t

    init(_ name: String) throws {
        self.name = name
        var path = Array(name.utf8)
        guard path.first == UInt8(ascii: "/") || path.first == UInt8(ascii: "@") else {
            throw SystemdNotifierError.unsupportedSocket(name)
        }
        // An abstract name starts with a NUL byte and is not NUL-terminated.
        if path[0] == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: storage.sun_path)
        guard path.count < capacity else { throw SystemdNotifierError.unsupportedSocket(name) }
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: path) }
        length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count + (path[0] == 0 ? 0 : 1))
    }
}

public enum SystemdNotifierError: Error, CustomStringConvertible, Equatable {
    case unsupportedSocket(String)

    public var description: String {
        switch self {
        case .unsupportedSocket(let name):
            "NOTIFY_SOCKET='\(name)' is not an AF_UNIX socket path or @abstract name narsync can use; unset it to run without systemd notifications"
        }
    }
}

import Foundation
import StorePaths
import SystemSupport

/// Hands a request to the running service over its Unix socket, within a short deadline.
///
/// Everything is non-blocking and bounded by one deadline for connect, send and reply together,
/// so a service that is down, stuck or overloaded costs a build at most that long; the caller
/// then spools the request instead.
public enum HookClient {
    /// The longest a reply line may be.
    static let maximumReplySize = 512

    /// Sends `request` and returns how many paths the service queued (paths it already knew are
    /// not counted).
    /// - Throws: `HookClientError` if the service cannot be reached, does not answer in time or
    ///   refuses the request.
    public static func send(
        _ request: HookRequest, storeDirectory: StoreDirectory, socketPath: String,
        timeout: Duration = .milliseconds(200)
    ) throws(HookClientError) -> Int {
        let deadline = ContinuousClock.now + timeout
        let socket: FileDescriptor
        do {
            socket = try UnixSocket.make(path: socketPath)
            try connect(socket, socketPath, deadline: deadline)
        } catch let error as HookClientError {
            throw error
        } catch {
            throw .unreachable(socketPath, "\(error)")
        }

        let bytes = request.serialized(storeDirectory: storeDirectory)
        var offset = 0
        while offset < bytes.count {
            guard UnixSocket.wait(socket, for: Int16(POLLOUT), until: deadline) else { throw .timedOut(socketPath) }
            guard let sent = UnixSocket.send(socket, bytes[offset...]) else {
                // A service that refuses a client (an untrusted user) answers and closes at once;
                // its answer says more than the broken pipe does.
                let sendError = String(cString: strerror(errno))
                guard let reply = try? readReply(socket, socketPath, deadline: deadline) else {
                    throw .unreachable(socketPath, "the service closed the connection: \(sendError)")
                }
                return try parseReply(reply, socketPath)
            }
            offset += sent
        }
        shutdown(socket.rawValue, Int32(SHUT_WR))
        return try parseReply(readReply(socket, socketPath, deadline: deadline), socketPath)
    }

    private static func connect(_ socket: FileDescriptor, _ path: String, deadline: ContinuousClock.Instant) throws {
        let result = try UnixSocket.withAddress(path) { Glibc.connect(socket.rawValue, $0, $1) }
        if result == 0 { return }
        // A Unix socket whose backlog is full says EAGAIN, and waiting does not help: the
        // service is overloaded, so the request goes to the spool.
        guard errno == EINPROGRESS else { throw HookClientError.unreachable(path, String(cString: strerror(errno))) }
        guard UnixSocket.wait(socket, for: Int16(POLLOUT), until: deadline) else { throw HookClientError.timedOut(path) }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(socket.rawValue, SOL_SOCKET, SO_ERROR, &error, &length)
        guard error == 0 else { throw HookClientError.unreachable(path, String(cString: strerror(error))) }
    }

    private static func readReply(_ socket: FileDescriptor, _ path: String, deadline: ContinuousClock.Instant) throws(HookClientError) -> [UInt8] {
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: maximumReplySize)
        while !reply.contains(UInt8(ascii: "\n")) {
            guard reply.count < maximumReplySize else { throw .badReply(path, "a reply longer than \(maximumReplySize) bytes") }
            guard UnixSocket.wait(socket, for: Int16(POLLIN), until: deadline) else { throw .timedOut(path) }
            let count = chunk.withUnsafeMutableBytes { buffer in
                retryingOnInterrupt { recv(socket.rawValue, buffer.baseAddress, buffer.count, 0) }
            }
            if count == 0 { throw .badReply(path, "the service closed the connection without answering") }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { continue }
                throw .unreachable(path, String(cString: strerror(errno)))
            }
            reply += chunk[..<count]
        }
        return Array(reply.prefix { $0 != UInt8(ascii: "\n") })
    }

    private static func parseReply(_ line: [UInt8], _ path: String) throws(HookClientError) -> Int {
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix("ok "), let count = Int(text.dropFirst(3)), count >= 0 { return count }
        if text.hasPrefix("error ") { throw .refused(path, String(text.dropFirst(6)).debugQuoted) }
        throw .badReply(path, "'\(text.debugQuoted)'")
    }
}

/// Why the service did not take a hook request.
public enum HookClientError: Error, CustomStringConvertible, Sendable {
    case unreachable(String, String)
    case timedOut(String)
    case refused(String, String)
    case badReply(String, String)

    public var description: String {
        switch self {
        case .unreachable(let socket, let reason): "cannot reach the narsync service at \(socket): \(reason)"
        case .timedOut(let socket): "the narsync service at \(socket) did not answer in time"
        case .refused(let socket, let reason): "the narsync service at \(socket) refused the request: \(reason)"
        case .badReply(let socket, let reply): "the narsync service at \(socket) answered \(reply)"
        }
    }
}

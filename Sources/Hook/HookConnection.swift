import Foundation
import StorePaths
import SystemSupport

/// One client of the hook socket while its request arrives: a buffer, a size limit and a
/// deadline, so that a client that stalls or sends garbage costs one slot for a second at most.
final class HookConnection {
    let socket: FileDescriptor
    let peer: PeerCredentials
    let deadline: ContinuousClock.Instant
    private var received: [UInt8] = []

    enum State {
        /// More bytes may come.
        case reading
        /// The request is complete (or the client said it was, by closing its side).
        case complete([UInt8])
        /// The client broke the rules or went away; answer with this reason, if it still listens.
        case failed(String)
    }

    init(socket: FileDescriptor, peer: PeerCredentials, deadline: ContinuousClock.Instant) {
        self.socket = socket
        self.peer = peer
        self.deadline = deadline
    }

    private static let terminator = Array("\nend\n".utf8)

    /// Reads what the client has sent so far, without blocking.
    func readAvailable() -> State {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { buffer in
                retryingOnInterrupt { recv(socket.rawValue, buffer.baseAddress, buffer.count, 0) }
            }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { return .reading }
                return .failed("cannot read the request: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return .complete(received) }
            received += chunk[..<count]
            if received.count > HookRequest.maximumSize {
                return .failed("the request is larger than \(HookRequest.maximumSize) bytes")
            }
            // A well-behaved client ends with `end` and then waits for the answer.
            if received.count >= Self.terminator.count, received.suffix(Self.terminator.count).elementsEqual(Self.terminator) {
                return .complete(received)
            }
        }
    }

    /// Sends the one-line answer if it fits in the socket buffer (it always does for a client
    /// that is reading), then closes the connection.
    func finish(answer: String) {
        // Short enough for the client's reply limit, whatever the error message holds.
        let line = Array((String(answer.debugQuoted.prefix(HookClient.maximumReplySize - 64)) + "\n").utf8)
        _ = UnixSocket.send(socket, line[...])
        socket.close()
    }
}

import Foundation

/// A TCP listener on 127.0.0.1, at a port the kernel picks, handing each connection to
/// `handler` on a thread of its own. For the tests' small servers.
public final class LoopbackListener: @unchecked Sendable {
    public let port: Int
    private let descriptor: Int32
    private let lock = NSLock()
    private var open: [Int32: SocketConnection] = [:]
    private var isStopped = false
    private var accepted = 0

    public init(handler: @escaping @Sendable (SocketConnection) -> Void) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        var address = loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            Glibc.close(descriptor)
            throw TestFailure("cannot listen on 127.0.0.1: \(String(cString: strerror(errno)))")
        }
        self.descriptor = descriptor
        port = boundPort(descriptor)
        let thread = Thread { [self] in acceptLoop(handler) }
        thread.name = "loopback-\(port)"
        thread.start()
    }

    deinit { stop() }

    /// A port free at the moment, for servers (moto) that must be told theirs.
    public static func freePort() throws -> Int {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(probe) }
        var address = loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestFailure("cannot bind 127.0.0.1:0") }
        return boundPort(probe)
    }

    /// Connections accepted so far: fewer than requests when clients reuse connections.
    public var connectionsAccepted: Int { lock.withLock { accepted } }

    /// Stops accepting and drops every open connection.
    public func stop() {
        lock.lock()
        guard !isStopped else { return lock.unlock() }
        isStopped = true
        let connections = Array(open.values)
        lock.unlock()
        shutdown(descriptor, Int32(SHUT_RDWR))
        Glibc.close(descriptor)
        connections.forEach { $0.close() }
    }

    private func acceptLoop(_ handler: @escaping @Sendable (SocketConnection) -> Void) {
        while true {
            let client = accept(descriptor, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let connection = SocketConnection(descriptor: client)
            lock.lock()
            if isStopped {
                lock.unlock()
                connection.close()
                return
            }
            open[client] = connection
            accepted += 1
            lock.unlock()
            Thread { [self] in
                handler(connection)
                connection.close()
                lock.lock()
                open[client] = nil
                lock.unlock()
            }.start()
        }
    }
}

/// One TCP connection with buffered reads; writes never raise SIGPIPE.
public final class SocketConnection: @unchecked Sendable {
    private let descriptor: Int32
    private let lock = NSLock()
    private var isClosed = false
    private var buffer: [UInt8] = []
    private var offset = 0

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close() }

    /// Connects to 127.0.0.1:`port`.
    public static func connect(port: Int) throws -> SocketConnection {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw TestFailure("cannot connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        return SocketConnection(descriptor: descriptor)
    }

    /// A line without its CRLF; nil at the end of the stream.
    public func readLine() throws -> String? {
        var line: [UInt8] = []
        while true {
            if offset == buffer.count, try !fill() { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            let byte = buffer[offset]
            offset += 1
            if byte == UInt8(ascii: "\n") {
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            line.append(byte)
        }
    }

    /// Exactly `count` bytes; throws if the stream ends first.
    public func read(exactly count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            if offset == buffer.count, try !fill() { throw TestFailure("connection closed \(count - out.count) bytes early") }
            let take = min(count - out.count, buffer.count - offset)
            out.append(contentsOf: buffer[offset..<offset + take])
            offset += take
        }
        return out
    }

    /// The bytes buffered, or else the next bytes to arrive; nil once the peer has closed.
    public func readAvailable() throws -> [UInt8]? {
        if offset == buffer.count, try !fill() { return nil }
        defer { offset = buffer.count }
        return Array(buffer[offset...])
    }

    /// Everything until the peer closes.
    public func readToEnd() throws -> [UInt8] {
        var out = Array(buffer[offset...])
        offset = buffer.count
        while try fill() {
            out.append(contentsOf: buffer)
            offset = buffer.count
        }
        return out
    }

    public func write(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw TestFailure("send: \(String(cString: strerror(errno)))") }
            sent += count
        }
    }

    /// Closes the connection; with `reset`, abruptly (the peer sees ECONNRESET).
    public func close(reset: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return }
        isClosed = true
        if reset {
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        } else {
            shutdown(descriptor, Int32(SHUT_RDWR))
        }
        Glibc.close(descriptor)
    }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw TestFailure("recv: \(String(cString: strerror(errno)))") }
            buffer = Array(chunk[..<count])
            offset = 0
            return count > 0
        }
    }
}

private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

private func boundPort(_ descriptor: Int32) -> Int {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

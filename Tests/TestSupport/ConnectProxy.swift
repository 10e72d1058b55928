import Foundation

/// A loopback forward proxy that tunnels `CONNECT 127.0.0.1:port` requests, as the corporate
/// proxies `HTTPS_PROXY` names do, and records which authorities clients asked for. It
/// refuses any host but 127.0.0.1 and localhost: tests never reach out.
public final class ConnectProxy: @unchecked Sendable {
    private var listener: LoopbackListener!
    private let lock = NSLock()
    private var tunnels: [String] = []

    public init() throws {
        listener = try LoopbackListener { [weak self] connection in self?.serve(connection) }
    }

    deinit { listener.stop() }

    public var port: Int { listener.port }
    /// `http://127.0.0.1:port`, for `HTTPS_PROXY`.
    public var url: String { "http://127.0.0.1:\(port)" }
    /// The `host:port` of every tunnel asked for, in order.
    public var tunnelsRequested: [String] { lock.withLock { tunnels } }

    public func stop() { listener.stop() }

    private func serve(_ client: SocketConnection) {
        guard let head = try? client.readHead() else { return }
        let target = head.target
        lock.withLock { tunnels.append(target) }
        let parts = target.split(separator: ":")
        guard head.method == "CONNECT", parts.count == 2, ["127.0.0.1", "localhost"].contains(parts[0]), let port = Int(parts[1]),
            let upstream = try? SocketConnection.connect(port: port)
        else {
            try? client.writeResponse(status: 403, reason: "Forbidden")
            return
        }
        defer { upstream.close() }
        guard (try? client.write(Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8))) != nil else { return }
        // One thread each way; when either side ends, both connections are closed.
        let done = DispatchSemaphore(value: 0)
        Thread {
            Self.pump(from: upstream, to: client)
            done.signal()
        }.start()
        Self.pump(from: client, to: upstream)
        upstream.close()
        client.close()
        done.wait()
    }

    private static func pump(from source: SocketConnection, to sink: SocketConnection) {
        while let bytes = try? source.readAvailable(), (try? sink.write(bytes)) != nil {}
        source.close()
        sink.close()
    }
}

import Foundation

/// A small HTTP binary cache server on loopback: PUT stores the body under the path in a
/// directory (whole, or not at all: temporary file, then rename), GET and HEAD serve it.
/// Optionally demands an exact `Authorization` header.
public final class HTTPCacheServer: @unchecked Sendable {
    public let directory: String
    public let requiredAuthorization: String?
    private var listener: LoopbackListener!
    private let lock = NSLock()
    private var received: [HTTPHead] = []

    public init(directory: String, requiredAuthorization: String? = nil) throws {
        self.directory = directory
        self.requiredAuthorization = requiredAuthorization
        listener = try LoopbackListener { [weak self] connection in self?.serve(connection) }
    }

    deinit { listener.stop() }

    public var port: Int { listener.port }
    public var url: String { "http://127.0.0.1:\(port)" }
    public var connectionsAccepted: Int { listener.connectionsAccepted }

    /// The heads of the requests received so far with this method, refused ones included.
    public func requests(_ method: String) -> [HTTPHead] {
        lock.withLock { received.filter { $0.method == method } }
    }

    public func stop() { listener.stop() }

    private func serve(_ connection: SocketConnection) {
        while let head = try? connection.readHead() {
            lock.withLock { received.append(head) }
            do {
                try answer(head, on: connection)
            } catch {
                return  // a dropped upload leaves nothing behind: the temporary is never renamed
            }
        }
    }

    private func answer(_ head: HTTPHead, on connection: SocketConnection) throws {
        let body = try connection.readRequestBody(head)
        if let requiredAuthorization, head.header("Authorization") != requiredAuthorization {
            return try connection.writeResponse(status: 401, reason: "Unauthorized", body: Array("who are you?".utf8))
        }
        let key = String(head.target.split(separator: "?")[0].dropFirst()).removingPercentEncoding ?? ""
        guard !key.isEmpty, !key.split(separator: "/").contains("..") else {
            return try connection.writeResponse(status: 400, reason: "Bad Request")
        }
        let path = "\(directory)/\(key)"
        switch head.method {
        case "PUT":
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let temporary = "\(path).uploading-\(UUID().uuidString)"
            try Data(body).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw TestFailure("rename failed") }
            try connection.writeResponse(status: 201, reason: "Created")
        case "GET", "HEAD":
            guard let contents = FileManager.default.contents(atPath: path) else {
                return try connection.writeResponse(status: 404, reason: "Not Found")
            }
            if head.method == "GET" {
                try connection.writeResponse(status: 200, reason: "OK", body: Array(contents))
            } else {
                try connection.writeResponse(status: 200, reason: "OK", headers: [("Content-Length", String(contents.count))])
            }
        default:
            try connection.writeResponse(status: 405, reason: "Method Not Allowed")
        }
    }
}

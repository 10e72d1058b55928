import Foundation

/// The start line and headers of an HTTP/1.1 request or response.
public struct HTTPHead: Sendable {
    public var startLine: String
    public var headers: [(name: String, value: String)]

    public init(startLine: String, headers: [(name: String, value: String)] = []) {
        self.startLine = startLine
        self.headers = headers
    }

    public func header(_ name: String) -> String? {
        headers.last { $0.name.lowercased() == name.lowercased() }?.value
    }

    public mutating func setHeader(_ name: String, _ value: String?) {
        headers.removeAll { $0.name.lowercased() == name.lowercased() }
        if let value { headers.append((name, value)) }
    }

    private var startLineParts: [Substring] { startLine.split(separator: " ", maxSplits: 2) }
    /// A request's method.
    public var method: String { String(startLineParts.first ?? "") }
    /// A request's target (path and query).
    public var target: String { startLineParts.count > 1 ? String(startLineParts[1]) : "" }
    /// A response's status.
    public var status: Int { startLineParts.count > 1 ? Int(startLineParts[1]) ?? 0 : 0 }

    public var bytes: [UInt8] {
        Array((([startLine] + headers.map { "\($0.name): \($0.value)" }).joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }
}

extension SocketConnection {
    /// The next message head; nil if the peer closed the connection first.
    public func readHead() throws -> HTTPHead? {
        guard let startLine = try readLine() else { return nil }
        var head = HTTPHead(startLine: startLine)
        while let line = try readLine(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            head.headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return head
    }

    /// A request's body: by Content-Length, chunked, or none.
    public func readRequestBody(_ head: HTTPHead) throws -> [UInt8] {
        if head.header("Transfer-Encoding")?.lowercased().contains("chunked") == true { return try readChunked() }
        return try read(exactly: Int(head.header("Content-Length") ?? "0") ?? 0)
    }

    /// A response's body, given the request's method: none for HEAD, 1xx, 204 and 304.
    public func readResponseBody(_ head: HTTPHead, requestMethod: String) throws -> [UInt8] {
        if requestMethod == "HEAD" || head.status / 100 == 1 || head.status == 204 || head.status == 304 { return [] }
        if head.header("Transfer-Encoding")?.lowercased().contains("chunked") == true { return try readChunked() }
        if let length = head.header("Content-Length").flatMap(Int.init) { return try read(exactly: length) }
        return try readToEnd()
    }

    private func readChunked() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            guard let line = try readLine(), let size = Int(line.split(separator: ";")[0].trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw TestFailure("malformed chunked body")
            }
            if size == 0 {
                while let trailer = try readLine(), !trailer.isEmpty {}
                return body
            }
            body += try read(exactly: size)
            _ = try readLine()
        }
    }

    /// Writes a response with a Content-Length (unless given, as for HEAD answers).
    public func writeResponse(status: Int, reason: String = "", headers: [(name: String, value: String)] = [], body: [UInt8] = []) throws {
        var head = HTTPHead(startLine: "HTTP/1.1 \(status) \(reason.isEmpty ? "Status" : reason)", headers: headers)
        if head.header("Content-Length") == nil { head.setHeader("Content-Length", String(body.count)) }
        try write(head.bytes + body)
    }
}

/// A plain HTTP/1.1 request to a loopback server, one connection per request: what the test
/// harness uses to talk to moto's admin API, outside the code under test.
public enum LoopbackHTTP {
    public struct Response: Sendable {
        public var status: Int
        public var head: HTTPHead
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public static func request(
        port: Int, method: String, target: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []
    ) throws -> Response {
        let connection = try SocketConnection.connect(port: port)
        defer { connection.close() }
        var head = HTTPHead(startLine: "\(method) \(target) HTTP/1.1", headers: headers)
        head.setHeader("Host", "127.0.0.1:\(port)")
        head.setHeader("Connection", "close")
        head.setHeader("Content-Length", String(body.count))
        try connection.write(head.bytes + body)
        guard let response = try connection.readHead() else { throw TestFailure("127.0.0.1:\(port) closed without answering") }
        return Response(status: response.status, head: response, body: try connection.readResponseBody(response, requestMethod: method))
    }
}

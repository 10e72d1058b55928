import Foundation
import SystemSupport

/// A loopback HTTP proxy between narsync and a server (moto) that breaks some requests on
/// purpose, as networks and S3 do: error answers, connections cut mid-body, long pauses.
/// Every request is forwarded on a fresh upstream connection.
public final class FaultProxy: @unchecked Sendable {
    public enum Fault: Sendable, Equatable {
        /// Answered by the proxy with this status and an S3 error body; not forwarded.
        case status(Int, code: String, retryAfter: Int? = nil)
        /// The connection is reset after half the request body.
        case dropRequest
        /// Forwarded, but the answer is cut off half-way through its head.
        case cutResponse
        /// Forwarded after a pause.
        case delay(Duration)
    }

    /// A request the proxy saw, and what it did to it.
    public struct Request: Sendable {
        public var index: Int
        public var method: String
        public var target: String
        public var fault: Fault?
        /// Requests the proxy was answering when this one arrived, this one included.
        public var concurrentAtArrival: Int
        /// The access key ID of the request's SigV4 `Authorization` header, if it was signed:
        /// which credentials narsync used.
        public var accessKeyID: String?
        /// The request's `x-amz-security-token` was present (the token itself is not kept).
        public var hadSessionToken = false
        /// The status the client was answered with in full; nil while the request is in
        /// flight, and for good when the answer was cut off or the client went away.
        public var status: Int?
    }

    /// A burst of throttling: from the request numbered `fromRequest` on, every request is
    /// answered `fault` for `lasting`, as a busy S3 prefix or B2 answers 503 SlowDown or 429
    /// for a while. A burst lasts a time, not a number of answers: a client that backs off
    /// sends fewer requests into it, as it should.
    public struct Burst: Sendable {
        public var fromRequest: Int
        public var lasting: Duration
        public var fault: Fault

        public init(fromRequest: Int, lasting: Duration, fault: Fault) {
            self.fromRequest = fromRequest
            self.lasting = lasting
            self.fault = fault
        }
    }

    /// A plan of bursts of throttling; requests outside them are forwarded.
    public static func bursts(_ bursts: [Burst]) -> @Sendable (Int, String, String) -> Fault? {
        let started = Locked([ContinuousClock.Instant?](repeating: nil, count: bursts.count))
        return { index, _, _ in
            let now = ContinuousClock.now
            return started.withLock { started in
                for (number, burst) in bursts.enumerated() where index >= burst.fromRequest {
                    let start = started[number] ?? now
                    started[number] = start
                    if now - start < burst.lasting { return burst.fault }
                }
                return nil
            }
        }
    }

    public let upstreamPort: Int
    /// Whether each answer says `Connection: close` and ends its connection, as moto does.
    public let closesConnections: Bool
    private let plan: @Sendable (_ index: Int, _ method: String, _ target: String) -> Fault?
    private var listener: LoopbackListener!
    private let lock = NSLock()
    private var seen: [Request] = []
    private var inFlight = 0
    private var mostInFlight = 0

    /// - Parameter plan: the fault for the request numbered `index` (from 0, in arrival order).
    public init(
        upstreamPort: Int, closesConnections: Bool = false,
        plan: @escaping @Sendable (_ index: Int, _ method: String, _ target: String) -> Fault?
    ) throws {
        self.upstreamPort = upstreamPort
        self.closesConnections = closesConnections
        self.plan = plan
        listener = try LoopbackListener { [weak self] connection in self?.serve(connection) }
    }

    deinit { listener.stop() }

    public var port: Int { listener.port }
    public var requests: [Request] { lock.withLock { seen } }
    /// The most requests the proxy was answering at one moment.
    public var maxConcurrentRequests: Int { lock.withLock { mostInFlight } }
    public func stop() { listener.stop() }

    private func serve(_ client: SocketConnection) {
        while let head = try? client.readHead() {
            let (index, fault): (Int, Fault?) = lock.withLock {
                let fault = plan(seen.count, head.method, head.target)
                inFlight += 1
                seen.append(Request(
                    index: seen.count, method: head.method, target: head.target, fault: fault, concurrentAtArrival: inFlight,
                    accessKeyID: Self.accessKeyID(in: head.header("Authorization")),
                    hadSessionToken: head.header("x-amz-security-token") != nil))
                mostInFlight = max(mostInFlight, inFlight)
                return (seen.count - 1, fault)
            }
            defer { lock.withLock { inFlight -= 1 } }
            do {
                if try !handle(head, index: index, fault: fault, client: client) || closesConnections { return }
            } catch {
                return
            }
        }
    }

    /// Answers one request; false when the connection is finished with.
    private func handle(_ head: HTTPHead, index: Int, fault: Fault?, client: SocketConnection) throws -> Bool {
        if fault == .dropRequest {
            _ = try client.read(exactly: (Int(head.header("Content-Length") ?? "0") ?? 0) / 2)
            client.close(reset: true)
            return false
        }
        let body = try client.readRequestBody(head)
        switch fault {
        case .status(let status, let code, let retryAfter):
            let xml = "<?xml version=\"1.0\"?><Error><Code>\(code)</Code><Message>injected by FaultProxy</Message></Error>"
            var headers = [(name: "Content-Type", value: "application/xml")]
            if let retryAfter { headers.append(("Retry-After", String(retryAfter))) }
            try client.writeResponse(status: status, headers: headers, body: head.method == "HEAD" ? [] : Array(xml.utf8))
            answered(index, status: status)
            return true
        case .delay(let pause):
            Thread.sleep(forTimeInterval: pause.timeInterval)
        default:
            break
        }
        let (responseHead, responseBody) = try forward(head, body: body)
        if fault == .cutResponse {
            try client.write(Array(responseHead.bytes.prefix(responseHead.bytes.count / 2)))
            client.close(reset: true)
            return false
        }
        try client.write(responseHead.bytes + responseBody)
        answered(index, status: responseHead.status)
        return true
    }

    /// `AKIA...` of `AWS4-HMAC-SHA256 Credential=AKIA.../20240101/us-east-1/s3/aws4_request, ...`.
    static func accessKeyID(in authorization: String?) -> String? {
        guard let authorization, let start = authorization.range(of: "Credential=") else { return nil }
        return String(authorization[start.upperBound...].prefix { $0 != "/" })
    }

    private func answered(_ index: Int, status: Int) {
        lock.withLock { seen[index].status = status }
    }

    private func forward(_ head: HTTPHead, body: [UInt8]) throws -> (HTTPHead, [UInt8]) {
        let upstream = try SocketConnection.connect(port: upstreamPort)
        defer { upstream.close() }
        var request = head
        request.setHeader("Connection", "close")
        request.setHeader("Transfer-Encoding", nil)
        request.setHeader("Content-Length", body.isEmpty && head.header("Content-Length") == nil ? nil : String(body.count))
        try upstream.write(request.bytes + body)
        guard var response = try upstream.readHead() else { throw TestFailure("upstream closed without answering") }
        let responseBody = try upstream.readResponseBody(response, requestMethod: head.method)
        response.setHeader("Connection", closesConnections ? "close" : nil)
        if head.method != "HEAD" {
            response.setHeader("Transfer-Encoding", nil)
            response.setHeader("Content-Length", String(responseBody.count))
        }
        return (response, responseBody)
    }
}

import Foundation
import Metrics
import Prometheus

/// The Prometheus endpoint: `GET /metrics` on a TCP port, answered from the registry that
/// swift-metrics reports into. One dedicated thread accepts and answers connections one at a
/// time — a scraper every few seconds needs no more — so the cooperative pool never blocks
/// on a socket. Each connection gets a few seconds to send its request.
final class MetricsServer: Sendable {
    let address: MetricsAddress
    private let socket: Int32
    private let registry: PrometheusCollectorRegistry

    /// Buckets for registration-to-publication latency: seconds to a day.
    static let latencyBuckets: [Duration] = [1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200, 21600, 86400].map { .seconds($0) }

    /// Points swift-metrics at a Prometheus registry and starts serving it.
    /// - Throws: `MetricsServerError` when the address cannot be bound.
    static func start(_ address: MetricsAddress) throws -> MetricsServer {
        try MetricsServer(address: address, registry: bootstrapRegistry())
    }

    /// Points swift-metrics at a new Prometheus registry; once per process.
    static func bootstrapRegistry() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[PublishMetrics.latencyLabel] = latencyBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Serves `registry` at `address`.
    /// - Throws: `MetricsServerError` when the address cannot be bound.
    init(address: MetricsAddress, registry: PrometheusCollectorRegistry) throws {
        self.address = address
        self.registry = registry
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        socket = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw MetricsServerError(address, "socket") }
        var yes: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let bound: Int32
        if address.isIPv6 {
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = address.port.bigEndian
            bound = inet_pton(AF_INET6, address.host, &socketAddress.sin6_addr) == 1 ? Self.bind(socket, &socketAddress) : -2
        } else {
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = address.port.bigEndian
            bound = inet_pton(AF_INET, address.host, &socketAddress.sin_addr) == 1 ? Self.bind(socket, &socketAddress) : -2
        }
        guard bound != -2 else {
            close(socket)
            throw MetricsServerError(address, "parse", detail: address.isIPv6 ? "not an IPv6 address" : "not an IPv4 address")
        }
        guard bound == 0, listen(socket, 16) == 0 else {
            let error = MetricsServerError(address, "listen on")
            close(socket)
            throw error
        }
        let thread = Thread { [self] in serve() }
        thread.name = "narsync-metrics"
        thread.start()
    }

    /// Binds `socket` to `address` (a `sockaddr_in` or `sockaddr_in6`).
    private static func bind<Address>(_ socket: Int32, _ address: inout Address) -> Int32 {
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(socket, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
    }

    /// Stops accepting: the blocked accept returns and the thread ends.
    func stop() {
        shutdown(socket, Int32(SHUT_RDWR))
    }

    private func serve() {
        while true {
            let connection = accept(socket, nil, nil)
            if connection < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                close(socket)
                return
            }
            answer(connection)
            close(connection)
        }
    }

    private func answer(_ connection: Int32) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // The request line and headers; a scraper sends no body. Bounded: 8 KiB at most.
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while request.count < 8192, !request.ends(with: Array("\r\n\r\n".utf8)) {
            let count = recv(connection, &chunk, chunk.count, 0)
            guard count > 0 else { break }
            request += chunk[..<count]
        }
        let requestLine = String(decoding: request.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self).split(separator: " ")
        let response: [UInt8]
        if requestLine.count >= 2, requestLine[0] == "GET", requestLine[1] == "/metrics" || requestLine[1].hasPrefix("/metrics?") {
            let body = registry.emitToBuffer()
            response = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8) + body
        } else {
            let body = Array("narsync serves Prometheus metrics at /metrics\n".utf8)
            response = Array("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8) + body
        }
        var sent = 0
        while sent < response.count {
            let count = response[sent...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return }
            sent += count
        }
    }
}

/// The metrics endpoint could not start: which address, what failed, and the system's reason.
struct MetricsServerError: Error, CustomStringConvertible {
    var description: String

    init(_ address: MetricsAddress, _ operation: String, detail: String? = nil) {
        let reason = detail ?? String(cString: strerror(errno))
        description = "cannot \(operation) the metrics address \(address): \(reason)"
            + (errno == EADDRINUSE ? "; another process uses the port, choose another with metrics.listen" : "")
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}

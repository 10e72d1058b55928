import ArgumentParser

/// Whether and where narsync serves Prometheus metrics.
struct MetricsOptions: ParsableArguments {
    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp(
        "Serve Prometheus metrics at http://ADDRESS:PORT/metrics, e.g. 127.0.0.1:9400 or [::1]:9400. Off by default.",
        valueName: "address:port"))
    var listen: String?

    func validate() throws {
        if let listen { _ = try MetricsAddress(listen) }
    }
}

/// `host:port` of the metrics endpoint: an IPv4 address (`127.0.0.1:9400`) or an IPv6 one in
/// brackets (`[::1]:9400`); a name would need a resolver at start.
struct MetricsAddress: Sendable, CustomStringConvertible {
    /// The address without brackets.
    var host: String
    var port: UInt16
    var isIPv6: Bool

    init(_ text: String) throws {
        let invalid = ValidationError("--metrics-listen must be ADDRESS:PORT, e.g. 127.0.0.1:9400 or [::1]:9400, not '\(text)'")
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]),
              !text[..<colon].isEmpty else {
            throw invalid
        }
        var host = text[..<colon]
        isIPv6 = host.hasPrefix("[")
        if isIPv6 {
            guard host.hasSuffix("]"), host.count > 2 else { throw invalid }
            host = host.dropFirst().dropLast()
        } else if host.contains(":") {
            throw invalid  // an IPv6 address without brackets: where does it end?
        }
        self.host = String(host)
        self.port = port
    }

    var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

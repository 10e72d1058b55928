import ArgumentParser

/// Whether and where narsync serves Prometheus metrics.
struct MetricsOptions: ParsableArguments {
    @Option(name: .customLong("metrics-listen"), help: ArgumentHelp(
        "Serve Prometheus metrics at http://ADDRESS:PORT/metrics, e.g. 127.0.0.1:9400. Off by default.",
        valueName: "address:port"))
    var listen: String?

    func validate() throws {
        if let listen { _ = try MetricsAddress(listen) }
    }
}

/// `host:port` of the metrics endpoint: an IPv4 address (a name would need a resolver at start).
struct MetricsAddress: Sendable, CustomStringConvertible {
    var host: String
    var port: UInt16

    init(_ text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]),
              !text[..<colon].isEmpty else {
            throw ValidationError("--metrics-listen must be ADDRESS:PORT, e.g. 127.0.0.1:9400, not '\(text)'")
        }
        host = String(text[..<colon])
        self.port = port
    }

    var description: String { "\(host):\(port)" }
}

import Foundation
import TestSupport

/// One reading of narsync's Prometheus endpoint: sample values by name and labels.
struct MetricsScrape {
    var text: String

    /// Reads `http://127.0.0.1:port/metrics` with curl; nil if nothing answers.
    static func read(port: Int) -> MetricsScrape? {
        guard let result = try? Subprocess.run("curl", ["-sf", "--max-time", "5", "http://127.0.0.1:\(port)/metrics"]),
              result.status == 0 else { return nil }
        return MetricsScrape(text: result.standardOutput)
    }

    /// The value of the sample `name` whose labels include `label`, e.g. `destination="file:///c"`.
    func value(_ name: String, _ label: String? = nil) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            if let label, !line.contains(label) { continue }
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }
}

/// A TCP port nothing listens on right now.
func unusedLoopbackPort() throws -> Int {
    let listener = try LoopbackListener { _ in }
    let port = listener.port
    listener.stop()
    return port
}

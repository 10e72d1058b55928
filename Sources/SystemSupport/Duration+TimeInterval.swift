import Foundation

extension Duration {
    /// The duration in seconds, for `Date` arithmetic, rates and sleeps that take seconds.
    public var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension Duration {
    /// The duration as a person reads it in a log line: `19 ms`, `1.6 s`, `42 s`, `2.5 min`,
    /// `1.2 h`, rather than `0.018561350404423988 seconds`.
    public var readable: String {
        let seconds = timeInterval
        func rounded(_ value: Double) -> String {
            value < 9.95 ? String(format: "%.1f", value) : String(Int(value.rounded()))
        }
        if seconds < 0.9995 { return "\(Int((seconds * 1000).rounded())) ms" }
        if seconds < 59.5 { return "\(rounded(seconds)) s" }
        if seconds < 3570 { return "\(rounded(seconds / 60)) min" }
        return "\(rounded(seconds / 3600)) h"
    }
}

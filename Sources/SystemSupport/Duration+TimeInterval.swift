import Foundation

extension Duration {
    /// The duration in seconds, for `Date` arithmetic, rates and sleeps that take seconds.
    public var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

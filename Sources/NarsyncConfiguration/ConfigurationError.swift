/// What is wrong with config.toml or a `NARSYNC_*` variable, naming the file, line and key.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// `file:line` or `environment NARSYNC_JOBS`.
    public var location: String
    public var message: String

    public init(_ origin: SettingValue.Origin, _ message: String) {
        location = "\(origin)"
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

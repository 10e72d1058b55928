import StorePaths

/// What is wrong with config.toml or a `NARSYNC_*` variable, naming the file, line and key.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// `file:line` or `environment NARSYNC_JOBS`.
    public var location: String
    public var message: String

    /// Control characters in `message` (a key or a TOML error quoting the file) are escaped:
    /// the message is one line of a log or a terminal.
    public init(_ origin: SettingValue.Origin, _ message: String) {
        location = "\(origin)".debugQuoted
        self.message = message.debugQuoted
    }

    public var description: String { "\(location): \(message)" }
}

/// What is wrong with config.toml or a `NARSYNC_*` variable, naming the file, line and key.
struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// `file:line` or `environment NARSYNC_JOBS`.
    var location: String
    var message: String

    init(_ origin: SettingValue.Origin, _ message: String) {
        location = "\(origin)"
        self.message = message
    }

    var description: String { "\(location): \(message)" }
}

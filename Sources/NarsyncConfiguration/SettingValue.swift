/// A setting's value as the words the command line carries after its flag, and where it
/// came from.
public struct SettingValue: Sendable, Equatable {
    public enum Origin: Sendable, Equatable, CustomStringConvertible {
        case commandLine
        case environment(String)
        case file(String, line: Int?)

        public var description: String {
            switch self {
            case .commandLine: "command line"
            case .environment(let name): "environment \(name)"
            case .file(let path, let line?): "\(path):\(line)"
            case .file(let path, nil): path
            }
        }
    }

    /// One word for `.value`, any number for `.list`, "true" or "false" for `.flag`.
    public var words: [String]
    public var origin: Origin

    /// The arguments that give this value on the command line.
    func arguments(for setting: Setting) -> [String] {
        switch setting.kind {
        case .value, .list: words.flatMap { ["--\(setting.flag)", $0] }
        case .flag: words == ["true"] ? ["--\(setting.flag)"] : []
        }
    }
}

/// Settings by flag: one layer (command line, environment, or one table of the file).
public typealias SettingValues = [String: SettingValue]

import Foundation

/// The arguments `narsync watch` runs with once config.toml and `NARSYNC_*` variables are
/// merged under the command line: flags, then the environment, then the file, then the
/// options' own defaults. The merge happens on arguments, before ArgumentParser, so the
/// command's option structs keep their one definition of each setting, its parsing and its
/// validation.
///
/// A setting given on the command line replaces the environment's and the file's value whole,
/// lists included: `--key-file a` alone signs with a, whatever key-files the file names.
public struct LayeredArguments: Sendable {
    /// The `--config` path used, nil when none was given and the default file is absent.
    public var configurationPath: String?
    /// One argument vector per destination (the file's `[[destination]]` tables, or one when
    /// it has none), each complete: the command line's own words plus what the environment
    /// and the file add.
    public var destinations: [[String]]
    /// Where each setting's value came from, per destination; settings left to defaults are absent.
    public var origins: [[String: SettingValue]]

    /// - Parameters:
    ///   - commandLine: the arguments after `watch`.
    ///   - requireFile: whether a missing configuration file is an error even when it is the
    ///     default one (`narsync config check`).
    public init(commandLine: [String], environment: [String: String], requireFile: Bool = false) throws {
        let given = try Self.settingsGiven(on: commandLine)
        let fromEnvironment = try Self.settings(from: environment)

        let explicitPath = given.configurationPath ?? environment["NARSYNC_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let path = explicitPath ?? ConfigurationFile.defaultPath
        var file: ConfigurationFile?
        if explicitPath != nil || requireFile || FileManager.default.fileExists(atPath: path) {
            file = try ConfigurationFile(contentsOf: path)
        }
        configurationPath = file?.path

        let tables = file.map { $0.destinations.isEmpty ? [[:]] : $0.destinations } ?? [[:]]
        if tables.count > 1, let to = given.values["to"] ?? fromEnvironment["to"] {
            throw ConfigurationError(to.origin, "--to cannot choose among the \(tables.count) destinations of \(path); edit the file")
        }
        var destinations: [[String]] = []
        var origins: [[String: SettingValue]] = []
        for table in tables {
            var merged = table.merging(file?.service ?? [:]) { destination, _ in destination }
            merged.merge(fromEnvironment) { _, environment in environment }
            merged.merge(given.values) { _, commandLine in commandLine }
            let added = Setting.all.flatMap { setting in
                given.values[setting.flag] == nil ? merged[setting.flag]?.arguments(for: setting) ?? [] : []
            }
            destinations.append(commandLine + added)
            origins.append(merged)
        }
        self.destinations = destinations
        self.origins = origins
    }

    /// The settings the command line gives, and its `--config`. Words it does not know
    /// (`--help`, a misspelt flag) are left for ArgumentParser to judge.
    static func settingsGiven(on arguments: [String]) throws -> (values: SettingValues, configurationPath: String?) {
        var values: SettingValues = [:]
        var configurationPath: String?
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if word == "--" { break }
            guard word.hasPrefix("--") else { continue }
            let (name, inlineValue) = word.dropFirst(2).firstIndex(of: "=").map {
                (String(word[word.index(word.startIndex, offsetBy: 2)..<$0]), Optional(String(word[word.index(after: $0)...])))
            } ?? (String(word.dropFirst(2)), nil)
            let isConfig = name == "config"
            guard isConfig || Setting.named(flag: name) != nil else { continue }
            let setting = Setting.named(flag: name)
            var value: String?
            if setting?.kind != .flag {
                value = inlineValue ?? (index < arguments.count ? arguments[index] : nil)
                if inlineValue == nil { index += 1 }
            }
            if isConfig {
                configurationPath = value
            } else if let setting {
                let words = setting.kind == .flag ? ["true"] : value.map { [$0] } ?? []
                if setting.kind == .list, let previous = values[setting.flag] {
                    values[setting.flag] = SettingValue(words: previous.words + words, origin: .commandLine)
                } else {
                    values[setting.flag] = SettingValue(words: words, origin: .commandLine)
                }
            }
        }
        return (values, configurationPath)
    }

    /// The settings `NARSYNC_*` variables give. Lists are comma-separated.
    static func settings(from environment: [String: String]) throws -> SettingValues {
        var values: SettingValues = [:]
        for setting in Setting.all {
            guard let text = environment[setting.environmentName], !text.isEmpty else { continue }
            let origin = SettingValue.Origin.environment(setting.environmentName)
            switch setting.kind {
            case .value:
                values[setting.flag] = SettingValue(words: [text], origin: origin)
            case .list:
                let words = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                values[setting.flag] = SettingValue(words: words, origin: origin)
            case .flag:
                switch text.lowercased() {
                case "1", "true", "yes", "on": values[setting.flag] = SettingValue(words: ["true"], origin: origin)
                case "0", "false", "no", "off": values[setting.flag] = SettingValue(words: ["false"], origin: origin)
                default: throw ConfigurationError(origin, "must be true or false (1/0, yes/no), not '\(text)'")
                }
            }
        }
        return values
    }
}

extension LayeredArguments {
    /// An ArgumentParser message ("--jobs must be between 1 and 256") with where each setting
    /// it names got its value, when that was not the command line: the user fixes the file's
    /// line or the variable, not a flag they never typed.
    public func annotated(_ message: String, destination: Int) -> String {
        let sources = Setting.all.compactMap { setting -> String? in
            guard message.contains("--\(setting.flag)"), let value = origins[destination][setting.flag],
                  value.origin != .commandLine else { return nil }
            return "--\(setting.flag) is \(setting.qualifiedKey) at \(value.origin)"
        }
        return sources.isEmpty ? message : "\(message) (\(sources.joined(separator: "; ")))"
    }
}

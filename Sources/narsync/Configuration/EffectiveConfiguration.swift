import Foundation
import NarsyncConfiguration

/// The configuration `narsync watch` would run with, written as config.toml with each value's
/// origin in a comment. Values are shown as they are, except the secrets a URL may carry (a
/// password, a token parameter); secret files are shown by path, never read.
struct EffectiveConfiguration {
    /// One parsed command per destination, with the origins of its values.
    var destinations: [(command: WatchCommand, origins: [String: SettingValue])]

    var text: String {
        guard let first = destinations.first else { return "" }
        var lines: [String] = []
        var table: String?
        for setting in Setting.all where !setting.isPerDestination {
            if setting.table != table {
                table = setting.table
                lines.append("\n[\(setting.table!)]")
            }
            lines.append(contentsOf: line(setting, first.command, first.origins))
        }
        for destination in destinations {
            lines.append("\n[[\(Setting.destinationTable)]]")
            for setting in Setting.all where setting.isPerDestination {
                lines.append(contentsOf: line(setting, destination.command, destination.origins))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func line(_ setting: Setting, _ command: WatchCommand, _ origins: [String: SettingValue]) -> [String] {
        var words = command.words(of: setting)
        if setting.flag == "to" { words = words.map(Self.redactedURL) }
        let origin = origins[setting.flag].map { "\($0.origin)" } ?? "default"
        let value: String
        switch setting.kind {
        case .flag: value = words.first ?? "false"
        case .list: value = "[" + words.map(Self.quoted).joined(separator: ", ") + "]"
        case .value:
            guard let word = words.first else { return ["# \(setting.key) is not set"] }
            value = word.wholeMatch(of: /-?[0-9]+(\.[0-9]+)?/) != nil ? word : Self.quoted(word)
        }
        return ["\(setting.key) = \(value)  # \(origin)"]
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// A URL without its secrets: the password of `user:password@`, and the values of query
    /// parameters whose names say they hold one.
    static func redactedURL(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        if components.password != nil { components.password = "REDACTED" }
        let secretNames = ["token", "password", "secret", "signature", "credential"]
        components.queryItems = components.queryItems?.map { item in
            let name = item.name.lowercased()
            // Nix's secret-key= names a key file: a path, not a secret.
            guard name != "secret-key", name != "secret-keys", secretNames.contains(where: name.contains) else { return item }
            return URLQueryItem(name: item.name, value: "REDACTED")
        }
        return components.string ?? url
    }
}

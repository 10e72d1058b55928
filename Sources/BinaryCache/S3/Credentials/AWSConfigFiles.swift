import Foundation

/// The AWS shared files: the config file (`AWS_CONFIG_FILE` or `~/.aws/config`, with
/// `[profile NAME]`, `[default]` and `[sso-session NAME]` sections) and the credentials file
/// (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`, with `[NAME]` sections). A missing
/// file is an empty one, as for the AWS tools.
struct AWSConfigFiles: Sendable {
    let configPath: String
    let credentialsPath: String
    private let config: [String: [String: String]]
    private let credentials: [String: [String: String]]

    /// Reads both files (small ones, once per resolution or refresh).
    init(environment: [String: String]) {
        let variable = { (name: String) in environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let home = variable("HOME") ?? NSHomeDirectory()
        configPath = variable("AWS_CONFIG_FILE") ?? "\(home)/.aws/config"
        credentialsPath = variable("AWS_SHARED_CREDENTIALS_FILE") ?? "\(home)/.aws/credentials"
        config = Self.read(configPath)
        credentials = Self.read(credentialsPath)
    }

    private static func read(_ path: String) -> [String: [String: String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        return parseINI(text)
    }

    /// The profile `name`: its `[profile name]` (or `[default]`) section of the config file
    /// under its `[name]` section of the credentials file, whose keys win. Nil if neither has it.
    func profile(_ name: String) -> AWSProfile? {
        let configSection = config["profile \(name)"] ?? (name == "default" ? config["default"] : nil)
        let credentialsSection = credentials[name]
        guard configSection != nil || credentialsSection != nil else { return nil }
        var origins: [String] = []
        if credentialsSection != nil { origins.append("\(credentialsPath) [\(name)]") }
        if configSection != nil { origins.append("\(configPath) [\(name == "default" && config["default"] != nil ? "default" : "profile \(name)")]") }
        return AWSProfile(
            name: name, values: (configSection ?? [:]).merging(credentialsSection ?? [:]) { $1 },
            origin: origins.joined(separator: " and "),
            credentialsOrigin: credentialsSection?["aws_access_key_id"] != nil ? "\(credentialsPath) [\(name)]" : nil)
    }

    /// The `[sso-session name]` section of the config file.
    func ssoSession(_ name: String) -> [String: String]? {
        config["sso-session \(name)"]
    }

    /// The sections of an AWS INI file: `[name]` headers, `key = value` lines, `#`/`;` comments.
    /// Indented lines under a key without a value (`s3 =` then `  addressing_style = path`)
    /// are that key's sub-settings, which narsync does not use: they are skipped rather than
    /// taken for the profile's own keys.
    static func parseINI(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        var inSubsection = false
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = line.dropFirst().dropLast().split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                inSubsection = false
                continue
            }
            let indented = rawLine.first == " " || rawLine.first == "\t"
            if indented && inSubsection { continue }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            inSubsection = value.isEmpty
            sections[current, default: [:]][key] = value
        }
        return sections
    }
}

/// One profile of the shared files, both files' keys merged.
struct AWSProfile: Sendable {
    var name: String
    var values: [String: String]
    /// Where it was found, for messages: "/root/.aws/credentials [ci] and /root/.aws/config [profile ci]".
    var origin: String
    /// The credentials file's section, when static keys come from there (as before the chain).
    var credentialsOrigin: String?

    subscript(key: String) -> String? { values[key].flatMap { $0.isEmpty ? nil : $0 } }
}

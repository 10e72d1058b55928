import Foundation

extension TLSSettings {
    /// Where the AWS tools look for a CA bundle, in their order: `AWS_CA_BUNDLE`, then the
    /// `ca_bundle` of the profile (`profile=` in the URL, `AWS_PROFILE`, or `default`) in the
    /// shared config file (`AWS_CONFIG_FILE` or `~/.aws/config`).
    static func awsCandidates(profile: String?, environment: [String: String]) -> [Candidate] {
        let variable = { (name: String) in environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let file = variable("AWS_CONFIG_FILE") ?? "\(variable("HOME") ?? NSHomeDirectory())/.aws/config"
        let name = profile ?? variable("AWS_PROFILE") ?? "default"
        // The config file names profiles `[profile NAME]`, except `[default]`.
        let sections = (try? String(contentsOfFile: file, encoding: .utf8)).map(S3Credentials.parseINI) ?? [:]
        let bundle = sections["profile \(name)"]?["ca_bundle"] ?? (name == "default" ? sections["default"]?["ca_bundle"] : nil)
        return [
            Candidate(file: variable("AWS_CA_BUNDLE"), source: "AWS_CA_BUNDLE"),
            Candidate(file: bundle, source: "ca_bundle of profile \(name) in \(file)"),
        ]
    }
}

import Foundation

/// Files of this repository, found from this source file's place in it.
enum RepositoryFiles {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Packaging, NarsyncTests, Tests, then root
        return url.path
    }()

    static func path(_ relative: String) -> String { "\(root)/\(relative)" }

    static func text(_ relative: String) throws -> String {
        try String(contentsOfFile: path(relative), encoding: .utf8)
    }
}

/// A systemd unit file's directives, `[Section] Key=value`, in order; repeated keys keep every
/// value, as systemd's list settings (LoadCredential=, ReadWritePaths=) do.
struct SystemdUnit {
    var directives: [(section: String, key: String, value: String)] = []

    init(_ text: String) {
        var section = ""
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            directives.append((section, String(line[..<equals]), String(line[line.index(after: equals)...])))
        }
    }

    func values(_ section: String, _ key: String) -> [String] {
        directives.filter { $0.section == section && $0.key == key }.map(\.value)
    }

    func value(_ section: String, _ key: String) -> String? { values(section, key).last }
}

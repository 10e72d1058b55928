import FuzzSupport
import NarsyncConfiguration

// config.toml: refused with an error naming the file and a line that exists, or read into
// settings narsync knows with values of their kind, which, written back as TOML, read the same.

let path = "/etc/narsync/config.toml"

fuzz { bytes in
    // The service reads the file as UTF-8 and refuses anything else before parsing.
    guard let text = utf8(bytes) else { return }
    let lineCount = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
    let file: ConfigurationFile
    do {
        file = try ConfigurationFile(text: text, path: path)
    } catch let error as ConfigurationError {
        require(error.location.hasPrefix(path), "the error is not located in the file: \(error)")
        if let line = Int(error.location.dropFirst(path.count + 1)) {
            require((1...max(lineCount, 1)).contains(line), "the error names line \(line) of \(lineCount)")
        }
        requirePrintable(error.description, "the configuration error")
        return
    } catch {
        require(false, "an error that is not a ConfigurationError: \(error)")
        return
    }
    check(file.service, perDestination: false, lineCount: lineCount)
    for destination in file.destinations { check(destination, perDestination: true, lineCount: lineCount) }

    let rendered = render(file)
    let reread: ConfigurationFile
    do {
        reread = try ConfigurationFile(text: rendered, path: path)
    } catch {
        require(false, "the settings written as TOML do not read back: \(error)\n\(rendered)")
        return
    }
    require(reread.service.mapValues(\.words) == file.service.mapValues(\.words), "top-level settings change when written:\n\(rendered)")
    require(reread.destinations.map { $0.mapValues(\.words) } == file.destinations.map { $0.mapValues(\.words) },
            "destinations change when written:\n\(rendered)")
}

func check(_ values: SettingValues, perDestination: Bool, lineCount: Int) {
    for (flag, value) in values {
        guard let setting = Setting.named(flag: flag) else {
            require(false, "unknown setting \(flag)")
            return
        }
        require(setting.isPerDestination == perDestination, "\(flag) in the wrong table")
        switch setting.kind {
        case .flag: require(value.words == ["true"] || value.words == ["false"], "\(flag) = \(value.words)")
        case .value: require(value.words.count == 1, "\(flag) = \(value.words)")
        case .list: break
        }
        if case .file(let file, let line?) = value.origin {
            require(file == path && (1...lineCount).contains(line), "\(flag) is at \(value.origin) of \(lineCount) lines")
        }
    }
}

/// The settings as TOML: every value a string (the words narsync passes on are strings).
func render(_ file: ConfigurationFile) -> String {
    var text = ""
    var tables: [String: [String]] = [:]
    for (flag, value) in file.service {
        let setting = Setting.named(flag: flag)!
        let line = "\(quoted(setting.key)) = \(tomlValue(value, setting))\n"
        if let table = setting.table { tables[table, default: []].append(line) } else { text += line }
    }
    for (table, lines) in tables.sorted(by: { $0.key < $1.key }) { text += "[\(table)]\n" + lines.joined() }
    for destination in file.destinations {
        text += "[[\(Setting.destinationTable)]]\n"
        for (flag, value) in destination {
            let setting = Setting.named(flag: flag)!
            text += "\(quoted(setting.key)) = \(tomlValue(value, setting))\n"
        }
    }
    return text
}

func tomlValue(_ value: SettingValue, _ setting: Setting) -> String {
    switch setting.kind {
    case .flag: value.words[0]
    case .value: quoted(value.words[0])
    case .list: "[" + value.words.map(quoted).joined(separator: ", ") + "]"
    }
}

/// A TOML basic string.
func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

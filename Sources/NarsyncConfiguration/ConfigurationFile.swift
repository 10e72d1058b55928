import Foundation
import TOMLKit

/// config.toml, read strictly: every key must be a setting narsync knows, with a value of the
/// right type, or the file is refused with the line of the offending key.
public struct ConfigurationFile: Sendable {
    public static let defaultPath = "/etc/narsync/config.toml"

    public var path: String
    /// Top-level, `[store]` and `[watch]` settings.
    public var service: SettingValues
    /// One entry per `[[destination]]` table, in order.
    public var destinations: [SettingValues]

    public init(contentsOf path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(.file(path, line: nil), "cannot read the configuration file: \((error as NSError).localizedDescription)")
        }
        try self.init(text: text, path: path)
    }

    public init(text: String, path: String) throws {
        self.path = path
        let lines = KeyLines(text)
        try TOMLAssertionGuard.check(text, path: path)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError(.file(path, line: error.source.begin.line), "not valid TOML: \(error.description)")
        }
        let origin = { (table: String?, index: Int?, key: String) in
            SettingValue.Origin.file(path, line: lines.line(of: key, in: table, index: index))
        }

        var service: SettingValues = [:]
        var destinations: [SettingValues] = []
        for (key, value) in table {
            if key == Setting.destinationTable {
                guard let array = value.array else {
                    throw ConfigurationError(origin(nil, nil, key), "'\(key)' must be an array of tables: [[destination]]")
                }
                for (index, element) in array.enumerated() {
                    guard let destination = element.table else {
                        throw ConfigurationError(origin(nil, nil, key), "'\(key)' must be an array of tables: [[destination]]")
                    }
                    destinations.append(try Self.read(destination, table: Setting.destinationTable, index: index, origin: origin))
                }
            } else if let subtable = value.table, Setting.all.contains(where: { $0.table == key }) {
                try service.merge(Self.read(subtable, table: key, index: nil, origin: origin)) { $1 }
            } else {
                let setting = try Self.setting(key, table: nil, origin: origin(nil, nil, key))
                service[setting.flag] = try Self.value(value, for: setting, origin: origin(nil, nil, key))
            }
        }
        self.service = service
        self.destinations = destinations
    }

    private static func read(
        _ table: TOMLTable, table name: String, index: Int?, origin: (String?, Int?, String) -> SettingValue.Origin
    ) throws -> SettingValues {
        var values: SettingValues = [:]
        for (key, value) in table {
            let setting = try setting(key, table: name, origin: origin(name, index, key))
            values[setting.flag] = try Self.value(value, for: setting, origin: origin(name, index, key))
        }
        return values
    }

    private static func setting(_ key: String, table: String?, origin: SettingValue.Origin) throws -> Setting {
        if let setting = Setting.all.first(where: { $0.table == table && $0.key == key }) { return setting }
        let known = Setting.all.filter { $0.table == table }.map(\.key)
            + (table == nil ? Set(Setting.all.compactMap(\.table)).sorted().map { "[\($0)]" } : [])
        let place = table.map { $0 == Setting.destinationTable ? "[[\($0)]]" : "[\($0)]" } ?? "the top level"
        throw ConfigurationError(origin, "unknown key '\(key)' in \(place); known keys: \(known.joined(separator: ", "))")
    }

    private static func value(_ value: any TOMLValueConvertible, for setting: Setting, origin: SettingValue.Origin) throws -> SettingValue {
        let wrongType = { (expected: String) in
            ConfigurationError(origin, "'\(setting.qualifiedKey)' must be \(expected), not a value of type \(value.type)")
        }
        switch setting.kind {
        case .flag:
            guard let bool = value.bool else { throw wrongType("true or false") }
            return SettingValue(words: [String(bool)], origin: origin)
        case .value:
            if let string = value.string { return SettingValue(words: [string], origin: origin) }
            if let int = value.int { return SettingValue(words: [String(int)], origin: origin) }
            if let double = value.double { return SettingValue(words: [String(double)], origin: origin) }
            throw wrongType("a string or a number")
        case .list:
            if let string = value.string { return SettingValue(words: [string], origin: origin) }
            guard let array = value.array else { throw wrongType("an array of strings") }
            let strings = array.compactMap(\.string)
            guard strings.count == array.count else { throw wrongType("an array of strings") }
            return SettingValue(words: strings, origin: origin)
        }
    }
}

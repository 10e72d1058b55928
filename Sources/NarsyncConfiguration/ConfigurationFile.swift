import Foundation
import TOML

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
        let table: TOMLTable
        do {
            table = try TOMLTable(parsing: text)
        } catch {
            throw ConfigurationError(.file(path, line: error.line), "not valid TOML: \(error.reason) (column \(error.column))")
        }
        let origin = { (entry: TOMLTable.Entry) in SettingValue.Origin.file(path, line: entry.line) }

        var service: SettingValues = [:]
        var destinations: [SettingValues] = []
        for entry in table {
            if entry.key == Setting.destinationTable {
                let notTables = ConfigurationError(origin(entry), "'\(entry.key)' must be an array of tables: [[destination]]")
                guard let array = entry.value.array else { throw notTables }
                for element in array {
                    guard let destination = element.table else { throw notTables }
                    destinations.append(try Self.read(destination, table: Setting.destinationTable, origin: origin))
                }
            } else if let subtable = entry.value.table, Setting.all.contains(where: { $0.table == entry.key }) {
                try service.merge(Self.read(subtable, table: entry.key, origin: origin)) { $1 }
            } else {
                let setting = try Self.setting(entry.key, table: nil, origin: origin(entry))
                service[setting.flag] = try Self.value(entry.value, for: setting, origin: origin(entry))
            }
        }
        self.service = service
        self.destinations = destinations
    }

    private static func read(
        _ table: TOMLTable, table name: String, origin: (TOMLTable.Entry) -> SettingValue.Origin
    ) throws -> SettingValues {
        var values: SettingValues = [:]
        for entry in table {
            let setting = try setting(entry.key, table: name, origin: origin(entry))
            values[setting.flag] = try Self.value(entry.value, for: setting, origin: origin(entry))
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

    private static func value(_ value: TOMLValue, for setting: Setting, origin: SettingValue.Origin) throws -> SettingValue {
        let wrongType = { (expected: String) in
            // A bare date or time is most likely text that lacks its quotes.
            let hint = value.isDateOrTime || value.array?.contains(where: \.isDateOrTime) == true
                ? " (a date or time is not a value of any setting; quote it if it is meant as text)" : ""
            return ConfigurationError(origin, "'\(setting.qualifiedKey)' must be \(expected), not a value of type \(value.typeName)\(hint)")
        }
        switch setting.kind {
        case .flag:
            guard let bool = value.boolean else { throw wrongType("true or false") }
            return SettingValue(words: [String(bool)], origin: origin)
        case .value:
            if let string = value.string { return SettingValue(words: [string], origin: origin) }
            if let int = value.integer { return SettingValue(words: [String(int)], origin: origin) }
            if let double = value.float { return SettingValue(words: [String(double)], origin: origin) }
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

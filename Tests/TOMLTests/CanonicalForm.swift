import TOML

/// One text for a TOML value that Python's tomllib, through `TOMLLib.script`, writes the same:
/// strings and keys as hexadecimal UTF-8, floats as their bits, date-times to the microsecond
/// (what Python keeps), table keys sorted.
enum CanonicalForm {
    static func of(_ value: TOMLValue) -> String {
        switch value {
        case .string(let text): "s:" + hex(text)
        case .integer(let integer): "i:\(integer)"
        case .float(let float) where float.isNaN: "f:nan"
        case .float(let float): "f:" + padded(String(float.bitPattern, radix: 16), 16)
        case .boolean(let bool): "b:\(bool)"
        case .offsetDateTime(let date, let time, let offset):
            "odt:" + of(date) + "T" + of(time) + (offset < 0 ? "-" : "+") + padded(String(abs(offset)), 4)
        case .localDateTime(let date, let time): "ldt:" + of(date) + "T" + of(time)
        case .localDate(let date): "ld:" + of(date)
        case .localTime(let time): "lt:" + of(time)
        case .array(let values): "[" + values.map(of).joined(separator: ",") + "]"
        case .table(let table): of(table)
        }
    }

    static func of(_ table: TOMLTable) -> String {
        "{" + table.map { (hex($0.key), of($0.value)) }.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
    }

    private static func of(_ date: TOMLDate) -> String {
        "\(padded(String(date.year), 4))-\(padded(String(date.month), 2))-\(padded(String(date.day), 2))"
    }

    private static func of(_ time: TOMLTime) -> String {
        "\(padded(String(time.hour), 2)):\(padded(String(time.minute), 2)):\(padded(String(time.second), 2)).\(padded(String(time.nanosecond / 1000), 6))"
    }

    private static func hex(_ text: String) -> String {
        text.utf8.map { padded(String($0, radix: 16), 2) }.joined()
    }

    private static func padded(_ digits: String, _ width: Int) -> String {
        String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// Python 3.11's tomllib, a TOML 1.0 reader of the standard library, as the reference.
enum TOMLLib {
    /// Reads a JSON array of documents on standard input; writes a JSON array holding, for
    /// each, `{"ok": canonical form}` or `{"error": message}`.
    static let script = #"""
        import json, struct, sys, tomllib, datetime

        def hexed(text):
            return text.encode("utf-8").hex()

        def stamp(value):
            return "%04d-%02d-%02d" % (value.year, value.month, value.day)

        def clock(value):
            return "%02d:%02d:%02d.%06d" % (value.hour, value.minute, value.second, value.microsecond)

        def canonical(value):
            if isinstance(value, bool):
                return "b:" + ("true" if value else "false")
            if isinstance(value, str):
                return "s:" + hexed(value)
            if isinstance(value, int):
                return "i:%d" % value
            if isinstance(value, float):
                return "f:nan" if value != value else "f:" + struct.pack(">d", value).hex()
            if isinstance(value, datetime.datetime):
                if value.tzinfo is None:
                    return "ldt:" + stamp(value) + "T" + clock(value)
                minutes = int(value.utcoffset().total_seconds()) // 60
                return "odt:" + stamp(value) + "T" + clock(value) + ("-" if minutes < 0 else "+") + "%04d" % abs(minutes)
            if isinstance(value, datetime.date):
                return "ld:" + stamp(value)
            if isinstance(value, datetime.time):
                return "lt:" + clock(value)
            if isinstance(value, list):
                return "[" + ",".join(canonical(element) for element in value) + "]"
            if isinstance(value, dict):
                pairs = sorted((hexed(key), canonical(element)) for key, element in value.items())
                return "{" + ",".join(key + "=" + element for key, element in pairs) + "}"
            raise TypeError(type(value))

        results = []
        for document in json.load(sys.stdin):
            try:
                results.append({"ok": canonical(tomllib.loads(document))})
            except tomllib.TOMLDecodeError as error:
                results.append({"error": str(error)})
        json.dump(results, sys.stdout)
        """#
}

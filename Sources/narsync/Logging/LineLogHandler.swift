import Foundation
import Logging

/// A log handler writing one line per event to standard error, in one write so that lines from
/// several threads never interleave: for journald, or as JSON for log shippers.
struct LineLogHandler: LogHandler {
    enum Style {
        /// Plain lines with a `<priority>` prefix (sd-daemon(3)) so `journalctl -p` filters by
        /// level, and no timestamp, since the journal records its own.
        case journald
        /// One JSON object per line: time, level, label, message, source, and the metadata as strings.
        case json
    }

    let label: String
    let style: Style
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    init(label: String, style: Style) {
        self.label = label
        self.style = style
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        FileHandle.standardError.write(Data((line(level: event.level, message: event.message, metadata: merged, source: event.source) + "\n").utf8))
    }

    func line(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata, source: String) -> String {
        switch style {
        case .journald:
            let fields = metadata.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            return "<\(Self.priority(level))>\(level) \(label): \(message)\(fields)"
        case .json:
            var object: [String: Any] = [
                "time": Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)),
                "level": level.rawValue, "label": label, "message": "\(message)", "source": source,
            ]
            if !metadata.isEmpty { object["metadata"] = metadata.mapValues { "\($0)" } }
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
                return #"{"level":"error","message":"a log line could not be encoded as JSON"}"#
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Whether standard error is the journal: systemd sets `JOURNAL_STREAM` to its device and
    /// inode (systemd.exec(5)); a redirected stderr no longer matches.
    static func isStandardErrorJournal(_ environment: [String: String]) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return stream == "\(info.st_dev):\(info.st_ino)"
    }
}

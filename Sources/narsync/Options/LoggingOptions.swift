import ArgumentParser
import Foundation
import Logging

/// How much narsync says, and in which form.
struct LoggingOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        /// One line per event with its level; under journald, a priority prefix instead of a timestamp.
        case plain
        /// One JSON object per line, for log shippers.
        case json
    }

    @Option(name: .customLong("log-level"), help: ArgumentHelp(
        "trace, debug, info, notice, warning, error or critical. Default: info, or warning under a progress bar."))
    var level: Logger.Level?

    @Option(name: .customLong("log-format"), help: "plain or json.")
    var format: Format = .plain

    func makeLogger(label: String, interactive: Bool) -> Logger {
        let level = level ?? (interactive ? .warning : .info)
        let format = format
        let journald = LineLogHandler.isStandardErrorJournal(ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler
            switch format {
            case .json: handler = LineLogHandler(label: label, style: .json)
            case .plain where journald: handler = LineLogHandler(label: label, style: .journald)
            case .plain: handler = StreamLogHandler.standardError(label: label)
            }
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

import ArgumentParser
import Logging

/// How much narsync says.
struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: ArgumentHelp(
        "trace, debug, info, notice, warning, error or critical. Default: info, or warning under a progress bar."))
    var level: Logger.Level?

    func makeLogger(label: String, interactive: Bool) -> Logger {
        let level = level ?? (interactive ? .warning : .info)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

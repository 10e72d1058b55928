import ArgumentParser
import Foundation
import NarsyncConfiguration

@main
struct Narsync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "narsync",
        abstract: "Replicate a Nix store into a Nix binary cache as store paths appear.",
        discussion: """
            narsync reads valid paths from the Nix database, publishes their closures \
            dependencies-first as signed, zstd-compressed NARs, and writes each narinfo last, \
            so a cache never announces a path whose NAR or references are missing.
            """,
        version: "0.1.0",
        subcommands: [
            WatchCommand.self, BackfillCommand.self, StatusCommand.self, HookCommand.self, KeygenCommand.self,
            ConfigCommand.self,
        ]
    )

    /// Like ArgumentParser's own `main`, but bad arguments exit with status 2, as every other
    /// kind of bad input does.
    static func main() async {
        // The hook runs inside Nix's build loop: it must never fail, not even on bad arguments.
        let arguments = CommandLine.arguments
        if arguments.dropFirst().first == "hook" { HookCommand.mainNeverFailing(Array(arguments.dropFirst(2))) }
        if HookCommand.isImplied(by: arguments) { HookCommand.mainNeverFailing(Array(arguments.dropFirst())) }
        if arguments.dropFirst().first == "watch" { await runWatch(layeredWatchArguments(arguments)) }
        var parsedArguments: [String]?, bulkPaths: [String] = []
        if arguments.dropFirst().first == "backfill" {
            (parsedArguments, bulkPaths) = BulkPathArguments.split(Array(arguments.dropFirst()))
        }
        do {
            var command = try parseAsRoot(parsedArguments)
            if var backfill = command as? BackfillCommand {
                backfill.paths += bulkPaths
                command = backfill
            }
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ExitStatus.badInput.rawValue)
            }
            exit(withError: error)
        }
    }

    /// `narsync watch`: one command parsed per destination (config.toml's `[[destination]]`
    /// tables, or the command line's one), run together. Exits.
    private static func runWatch(_ layered: LayeredArguments) async -> Never {
        do {
            var commands: [WatchCommand] = []
            for (index, arguments) in layered.destinations.enumerated() {
                do {
                    commands.append(try WatchCommand.parse(arguments))
                } catch where WatchCommand.exitCode(for: error) == .success {
                    print(WatchCommand.fullMessage(for: error))  // --help
                    Foundation.exit(0)
                } catch {
                    printError(layered.annotated(WatchCommand.message(for: error), destination: index))
                    Foundation.exit(ExitStatus.badInput.rawValue)
                }
            }
            try await WatchCommand.run(commands)
            Foundation.exit(0)
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            // As every other error of narsync's: one line, `narsync: error: ...`.
            printError("\(error)")
            Foundation.exit(1)
        }
    }

    /// `watch`'s arguments with config.toml and `NARSYNC_*` merged in. A bad file stops
    /// narsync here.
    private static func layeredWatchArguments(_ arguments: [String]) -> LayeredArguments {
        do {
            return try LayeredArguments(
                commandLine: Array(arguments.dropFirst(2)), environment: ProcessInfo.processInfo.environment)
        } catch {
            printError("\(error)")
            Foundation.exit(ExitStatus.badInput.rawValue)
        }
    }
}

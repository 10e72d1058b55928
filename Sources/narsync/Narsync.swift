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
            ConfigCommand.self, VerifyCommand.self, GCCommand.self,
        ]
    )

    /// Like ArgumentParser's own `main`, but bad arguments exit with status 2, as every other
    /// kind of bad input does.
    static func main() async {
        // The hook runs inside Nix's build loop: it must never fail, not even on bad arguments.
        let arguments = CommandLine.arguments
        if arguments.dropFirst().first == "hook" { HookCommand.mainNeverFailing(Array(arguments.dropFirst(2))) }
        if HookCommand.isImplied(by: arguments) { HookCommand.mainNeverFailing(Array(arguments.dropFirst())) }
        let (watchArguments, layered) = layeredWatchArguments(arguments)
        if let layered, layered.destinations.count > 1 {
            await runWatch(layered)
        }
        var parsedArguments = watchArguments, bulkPaths: [String] = []
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
                let message = layered?.annotated(fullMessage(for: error), destination: 0) ?? fullMessage(for: error)
                FileHandle.standardError.write(Data((message + "\n").utf8))
                Foundation.exit(ExitStatus.badInput.rawValue)
            }
            exit(withError: error)
        }
    }

    /// `narsync watch` with several destinations: one command parsed per destination, run
    /// together. Exits.
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
        } catch {
            exit(withError: error)
        }
    }

    /// For `watch`, the arguments with config.toml and `NARSYNC_*` merged in; otherwise nil
    /// (ArgumentParser reads the command line as it is). A bad file stops narsync here.
    private static func layeredWatchArguments(_ arguments: [String]) -> ([String]?, LayeredArguments?) {
        guard arguments.dropFirst().first == "watch" else { return (nil, nil) }
        do {
            let layered = try LayeredArguments(
                commandLine: Array(arguments.dropFirst(2)), environment: ProcessInfo.processInfo.environment)
            return (["watch"] + layered.destinations[0], layered)
        } catch {
            printError("\(error)")
            Foundation.exit(ExitStatus.badInput.rawValue)
        }
    }
}

import ArgumentParser
import Foundation

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
        subcommands: [WatchCommand.self, BackfillCommand.self, StatusCommand.self, HookCommand.self, KeygenCommand.self]
    )

    /// Like ArgumentParser's own `main`, but bad arguments exit with status 2, as every other
    /// kind of bad input does.
    static func main() async {
        // The hook runs inside Nix's build loop: it must never fail, not even on bad arguments.
        let arguments = CommandLine.arguments
        if arguments.dropFirst().first == "hook" { HookCommand.mainNeverFailing(Array(arguments.dropFirst(2))) }
        if HookCommand.isImplied(by: arguments) { HookCommand.mainNeverFailing(Array(arguments.dropFirst())) }
        do {
            var command = try parseAsRoot()
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
}

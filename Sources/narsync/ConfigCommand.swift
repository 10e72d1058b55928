import ArgumentParser
import BinaryCache
import Foundation
import NarsyncConfiguration
import NarsyncService
import NixStore
import SystemSupport

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with the service's configuration file.",
        subcommands: [ConfigCheckCommand.self]
    )
}

struct ConfigCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate config.toml and print the configuration `narsync watch` would run with.",
        discussion: """
            Reads the file as the service does, with NARSYNC_* variables over it, and checks \
            every key and value, each destination's URL, and that key and credential files \
            are readable by narsync and by nobody else. With --online it also asks each \
            destination for its nix-cache-info. Prints the effective configuration with the \
            origin of every value and secrets redacted. Exits 0 if all is well, 2 otherwise.
            """
    )

    @Option(name: .customLong("config"), help: ArgumentHelp("The file to check.", valueName: "file"))
    var configurationFile: String = ConfigurationFile.defaultPath

    @Flag(help: "Also reach every destination.")
    var online = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let layered = try validatingInput {
            try LayeredArguments(commandLine: ["--config", configurationFile], environment: environment, requireFile: true)
        }
        var destinations: [(command: WatchCommand, origins: [String: SettingValue])] = []
        for (index, arguments) in layered.destinations.enumerated() {
            do {
                destinations.append((try WatchCommand.parse(arguments), layered.origins[index]))
            } catch {
                printError(layered.annotated(WatchCommand.message(for: error), destination: index))
                throw ExitStatus.badInput
            }
        }

        var problems: [String] = []
        var notes: [String] = []
        if let twice = WatchCommand.destinationGivenTwice(destinations.map(\.command)) {
            problems.append("two [[destination]] tables publish to \(twice); they would share one queue")
        }
        for (index, destination) in destinations.enumerated() {
            let place = layered.destinations.count > 1 ? "destination \(index + 1): " : ""
            problems += await Self.problems(of: destination.command, online: online, notes: &notes).map { place + $0 }
        }
        print(EffectiveConfiguration(destinations: destinations).text, terminator: "")
        for note in notes { print("# \(note)") }
        for problem in problems { printError(problem) }
        if !problems.isEmpty { throw ExitStatus.badInput }
    }

    /// What would stop the service or its uploads, one message each.
    /// - Parameter notes: gets what is worth knowing besides: where S3 credentials come from.
    private static func problems(of command: WatchCommand, online: Bool, notes: inout [String]) async -> [String] {
        var problems: [String] = []
        let publishing = command.publishing
        for file in publishing.keyFiles {
            do { _ = try SecretKey(contentsOfFile: file) } catch { problems.append("\(error)") }
        }
        for file in publishing.secretFiles {
            if let problem = SecretFile.problem(file) { problems.append(problem) }
        }
        guard let url = publishing.destination else { return problems }
        // Destination errors quote the URL; a password in it stays out of the output.
        let redacted = { (error: any Error) in "\(error)".replacingOccurrences(of: url, with: EffectiveConfiguration.redactedURL(url)) }
        let executor = BlockingExecutor(threadCount: 1, name: "narsync-check")
        defer { executor.shutdown() }
        let destination: any BinaryCacheDestination
        do {
            if url.lowercased().hasPrefix("file:") && !online {
                // Opening a file:// cache creates its directory; an offline check writes nothing.
                guard let components = URLComponents(string: url), components.host?.isEmpty ?? true,
                      components.path.hasPrefix("/") else { throw DestinationError.unsupportedURL(url) }
                return problems
            }
            var options = publishing.destinationOptions
            // One question, answered or not: the check does not wait out the upload retries.
            options.retry = RequestRetryPolicy(maximumAttempts: 1, initialDelay: .zero, maximumDelay: .zero, maximumTotalTime: .seconds(30))
            // Off the async pool: an S3 destination's credential chain may ask STS or instance metadata.
            destination = try await executor.run { [options] in try Destinations.open(url, options: options) }
        } catch {
            return problems + [redacted(error)]
        }
        guard online else { return problems }
        do {
            _ = try await executor.run { try destination.exists(key: "nix-cache-info") }
            if let s3 = destination as? S3Destination {
                notes.append("\(EffectiveConfiguration.redactedURL(url)): \(CredentialStatusFile.describe(s3.credentials.status))")
            }
        } catch {
            problems.append("\(EffectiveConfiguration.redactedURL(url)) cannot be reached: \(redacted(error))")
        }
        return problems
    }
}

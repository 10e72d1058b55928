import Foundation
import NarsyncConfiguration
import Testing
import TestSupport
@testable import narsync

/// Flags, then NARSYNC_* variables, then config.toml, then the options' defaults: merged into
/// the arguments `narsync watch` is parsed from.
@Suite struct ConfigurationPrecedenceTests {
    let directory = try! TemporaryDirectory()

    private func writeConfiguration(_ text: String) throws -> String {
        let path = directory.appending("config.toml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func watch(_ commandLine: [String], environment: [String: String] = [:]) throws -> WatchCommand {
        let layered = try LayeredArguments(commandLine: commandLine, environment: environment)
        #expect(layered.destinations.count == 1)
        return try WatchCommand.parse(layered.destinations[0])
    }

    @Test func flagsWinOverTheEnvironmentWhichWinsOverTheFileWhichWinsOverDefaults() throws {
        let file = try writeConfiguration("""
            state-dir = "/srv/state"
            [[destination]]
            jobs = 3
            priority = 30
            """)
        let config = ["--config", file]
        #expect(try watch([]).publishing.jobs == 4)
        #expect(try watch(config).publishing.jobs == 3)
        #expect(try watch(config, environment: ["NARSYNC_JOBS": "7"]).publishing.jobs == 7)
        #expect(try watch(config + ["--jobs", "9"], environment: ["NARSYNC_JOBS": "7"]).publishing.jobs == 9)
        #expect(try watch(config + ["--jobs=9"], environment: ["NARSYNC_JOBS": "7"]).publishing.jobs == 9)
        // Settings nobody overrides keep the file's value.
        let mixed = try watch(config + ["--jobs", "9"], environment: ["NARSYNC_JOBS": "7"])
        #expect(mixed.publishing.priority == 30)
        #expect(mixed.service.stateDirectory == "/srv/state")
    }

    @Test func aListOnTheCommandLineReplacesTheFilesListWhole() throws {
        let file = try writeConfiguration("""
            [[destination]]
            key-files = ["/a.sec", "/b.sec"]
            exclude = ["*-source"]
            """)
        #expect(try watch(["--config", file]).publishing.keyFiles == ["/a.sec", "/b.sec"])
        #expect(try watch(["--config", file, "--key-file", "/c.sec"]).publishing.keyFiles == ["/c.sec"])
        #expect(try watch(["--config", file], environment: ["NARSYNC_KEY_FILE": "/d.sec, /e.sec"]).publishing.keyFiles == ["/d.sec", "/e.sec"])
        #expect(try watch(["--config", file]).excludes == ["*-source"])
    }

    @Test func booleansComeFromTheFileAndTheEnvironmentAndCanBeTurnedOffThere() throws {
        let file = try writeConfiguration("""
            [watch]
            initial-backfill = true
            [[destination]]
            keep-derivations = true
            """)
        let fromFile = try watch(["--config", file])
        #expect(fromFile.initialBackfill && fromFile.keepDerivations)
        let off = try watch(["--config", file], environment: ["NARSYNC_INITIAL_BACKFILL": "0"])
        #expect(!off.initialBackfill && off.keepDerivations)
        #expect(throws: ConfigurationError.self) { try watch([], environment: ["NARSYNC_INITIAL_BACKFILL": "maybe"]) }
    }

    @Test func hookAndTimingSettingsComeFromTheirTables() throws {
        let file = try writeConfiguration("""
            [watch]
            grace-seconds = 2.5
            retry-initial-seconds = 1
            [hook]
            socket = "none"
            trust-users = ["nobody"]
            trust-groups = ["nixbld"]
            """)
        let command = try watch(["--config", file])
        #expect(command.graceSeconds == 2.5 && command.retryInitialSeconds == 1)
        #expect(command.hookSocket == "none")
        #expect(command.hookTrustUsers == ["nobody"] && command.hookTrustGroups == ["nixbld"])
        #expect(try watch(["--config", file], environment: ["NARSYNC_HOOK_TRUST_USER": "root,nobody"]).hookTrustUsers == ["root", "nobody"])
    }

    @Test func withoutAFileTheEnvironmentStillApplies() throws {
        let missingDefault = try LayeredArguments(commandLine: [], environment: ["NARSYNC_CONFIG": ""])
        #expect(missingDefault.destinations.count == 1)
        #expect(try watch(["--state-dir", "/x"], environment: ["NARSYNC_STATE_DIR": "/y", "NARSYNC_TO": "file:///c"]).publishing.destination == "file:///c")
        #expect(try watch(["--state-dir", "/x"], environment: ["NARSYNC_STATE_DIR": "/y"]).service.stateDirectory == "/x")
    }

    @Test func aNamedFileThatIsMissingIsAnError() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try LayeredArguments(commandLine: ["--config", directory.appending("absent.toml")], environment: [:])
        }
        #expect(error?.description.contains("absent.toml") == true)
    }

    @Test func severalDestinationsGiveOneArgumentVectorEach() throws {
        let file = try writeConfiguration("""
            jobs = 1
            [[destination]]
            url = "file:///one"
            [[destination]]
            url = "file:///two"
            jobs = 2
            """.replacingOccurrences(of: "jobs = 1\n", with: ""))
        let layered = try LayeredArguments(commandLine: ["--config", file], environment: ["NARSYNC_PRIORITY": "50"])
        let commands = try layered.destinations.map { try WatchCommand.parse($0) }
        #expect(commands.map(\.publishing.destination) == ["file:///one", "file:///two"])
        #expect(commands.map(\.publishing.jobs) == [4, 2])
        #expect(commands.map(\.publishing.priority) == [50, 50])
        #expect(throws: ConfigurationError.self) {
            try LayeredArguments(commandLine: ["--config", file, "--to", "file:///three"], environment: [:])
        }
    }
}

import Foundation
import Testing
import TestSupport

/// `narsync config check`, and a bad file met by `narsync watch` at start and on SIGHUP.
@Suite struct ConfigCheckCommandTests {
    let directory = try! TemporaryDirectory()
    var config: String { directory.appending("config.toml") }
    var keyFile: String { directory.appending("signing-key.sec") }

    init() throws {
        let keygen = try Subprocess.run(narsyncExecutable, ["keygen", "test-1", keyFile, directory.appending("signing-key.pub")])
        #expect(keygen.status == 0, "\(keygen.standardError)")
    }

    private func check(_ text: String, _ extra: [String] = [], environment: [String: String] = [:]) throws -> ProcessResult {
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NARSYNC_") }
        return try Subprocess.run(narsyncExecutable, ["config", "check", "--config", config] + extra,
                                  environment: inherited.merging(environment) { $1 })
    }

    @Test func aGoodFileIsPrintedWithTheOriginOfEveryValue() throws {
        let result = try check("""
            state-dir = "\(directory.path)/state"
            [[destination]]
            url = "file://\(directory.path)/cache"
            key-files = ["\(keyFile)"]
            jobs = 2
            """, environment: ["NARSYNC_PRIORITY": "41"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("jobs = 2  # \(config):5"))
        #expect(result.standardOutput.contains("priority = 41  # environment NARSYNC_PRIORITY"))
        #expect(result.standardOutput.contains("compression-level = 3  # default"))
        // The offline check writes nothing, not even the cache directory.
        #expect(!FileManager.default.fileExists(atPath: directory.appending("cache")))
    }

    @Test func anUnknownKeyStopsTheCheckWithFileAndLine() throws {
        let result = try check("[[destination]]\nurl = \"file:///c\"\ncompresion-level = 5\n")
        #expect(result.status == 2)
        #expect(result.standardError.contains("\(config):3: unknown key 'compresion-level' in [[destination]]"), "\(result.standardError)")
    }

    @Test func anOutOfRangeValueNamesTheKeyAndLineItCameFrom() throws {
        let result = try check("[[destination]]\nurl = \"file:///c\"\n\njobs = 1000\n")
        #expect(result.status == 2)
        #expect(result.standardError.contains("--jobs must be between 1 and 256, not 1000 (--jobs is destination.jobs at \(config):4)"),
                "\(result.standardError)")
    }

    @Test func twoDestinationsWithOneURLAreRefused() throws {
        let table = "[[destination]]\nurl = \"file://\(directory.path)/cache\"\nkey-files = [\"\(keyFile)\"]\n"
        let result = try check(table + table + "jobs = 2\n")
        #expect(result.status == 2)
        #expect(result.standardError.contains("two [[destination]] tables publish to file://\(directory.path)/cache"), "\(result.standardError)")
        try (table + table).write(toFile: config, atomically: true, encoding: .utf8)
        let watch = try Subprocess.run(narsyncExecutable, ["watch", "--config", config, "--state-dir", directory.appending("state")])
        #expect(watch.status == 2)
        #expect(watch.standardError.contains("two [[destination]] tables publish to"), "\(watch.standardError)")
    }

    @Test func oneBucketIsKnownByItsEndpointNotByItsSpelling() throws {
        let table = { (url: String) in "[[destination]]\nurl = \"\(url)\"\nkey-files = [\"\(keyFile)\"]\n" }
        let credentials = ["AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"]
        // One server written two ways: one destination, refused twice.
        let same = try check(table("s3://cache?endpoint=127.0.0.1:1&scheme=http")
            + table("s3://cache/?endpoint=http://127.0.0.1:1/&region=us-east-1"), environment: credentials)
        #expect(same.status == 2)
        #expect(same.standardError.contains(
            "two [[destination]] tables publish to s3://cache?endpoint=http://127.0.0.1:1&region=us-east-1&addressing-style=path"),
            "\(same.standardError)")
        // One bucket name on two servers: two destinations.
        let two = try check(table("s3://cache?endpoint=127.0.0.1:1&scheme=http") + table("s3://cache?endpoint=127.0.0.1:2&scheme=http"),
                            environment: credentials)
        #expect(two.status == 0, "\(two.standardError)")
    }

    @Test func keyAndCredentialFilesMustBePrivate() throws {
        let credentials = directory.appending("s3-credentials")
        try "[default]\naws_access_key_id = AKID\naws_secret_access_key = TOPSECRET\n".write(toFile: credentials, atomically: true, encoding: .utf8)
        chmod(credentials, 0o644)
        chmod(keyFile, 0o640)
        let result = try check("""
            [[destination]]
            url = "s3://bucket?region=us-east-1&endpoint=http://127.0.0.1:1"
            key-files = ["\(keyFile)", "\(directory.path)/absent.sec"]
            credentials-file = "\(credentials)"
            """)
        #expect(result.status == 2)
        #expect(result.standardError.contains(keyFile) && result.standardError.contains("too open"), "\(result.standardError)")
        #expect(result.standardError.contains("absent.sec"))
        #expect(result.standardError.contains("\(credentials) holds a secret but group or others may read it"))
        #expect(!(result.standardOutput + result.standardError).contains("TOPSECRET"))
    }

    /// A login in the URL is refused (it would show in `ps`), and the refusal repeats no secret.
    @Test func secretsInAURLAreRedactedEverywhere() throws {
        let result = try check("""
            [[destination]]
            url = "https://alice:hunter2@127.0.0.1:1/cache"
            key-files = ["\(keyFile)"]
            """, ["--online"])
        #expect(result.status == 2)
        #expect(result.standardOutput.contains("https://alice:REDACTED@127.0.0.1:1/cache"))
        #expect(result.standardError.contains("a login in the URL is refused"), "\(result.standardError)")
        #expect(!(result.standardOutput + result.standardError).contains("hunter2"))
    }

    @Test func onlineReachesAWritableCache() throws {
        let result = try check("""
            [[destination]]
            url = "file://\(directory.path)/cache"
            key-files = ["\(keyFile)"]
            """, ["--online"])
        #expect(result.status == 0, "\(result.standardError)")
    }

    @Test func theExampleConfigurationIsValid() throws {
        let example = try RepositoryFiles.text("packaging/examples/config.toml")
        // The example names the key where systemd puts it; here the environment points elsewhere.
        let result = try check(example, environment: ["NARSYNC_KEY_FILE": keyFile, "NARSYNC_STATE_DIR": directory.path])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("skip-signed-by = [\"cache.nixos.org-1\"]"))
    }

    @Test func thePrintedConfigurationIsAFileThatGivesTheSameConfiguration() throws {
        let example = try RepositoryFiles.text("packaging/examples/config.toml")
        let first = try check(example, environment: ["NARSYNC_KEY_FILE": keyFile, "NARSYNC_JOBS": "3"])
        #expect(first.status == 0, "\(first.standardError)")
        let second = try check(first.standardOutput)
        #expect(second.status == 0, "\(second.standardError)")
        let values = { (text: String) in text.split(separator: "\n").map { $0.components(separatedBy: "  #")[0] } }
        #expect(values(first.standardOutput) == values(second.standardOutput))
        #expect(second.standardOutput.contains("jobs = 3  # \(config):"))
    }

    @Test func watchRefusesToStartWithABadFileNamingKeyAndLine() throws {
        try "state-dir = \"\(directory.path)/state\"\n[watch]\ndebounce = 5\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try Subprocess.run(narsyncExecutable, ["watch", "--config", config])
        #expect(result.status == 2)
        #expect(result.standardError.contains("\(config):3: unknown key 'debounce' in [watch]"), "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory.appending("state")))
    }
}

/// SIGHUP: a valid file replaces the running configuration; a bad one is logged and the
/// service keeps running on what it had.
@Suite struct ConfigReloadTests {
    @Test func aValidFileOnSIGHUPTakesEffect() throws {
        let nix = try NixEnvironment()
        let add = { (name: String) throws -> String in
            try name.write(toFile: nix.directory.appending(name), atomically: true, encoding: .utf8)
            return try nix.add(nix.directory.appending(name))
        }
        _ = try add("seed")
        let (config, one, two) = (nix.directory.appending("config.toml"), nix.directory.appending("one"), nix.directory.appending("two"))
        let write = { (cache: String) throws in
            try """
                state-dir = "\(nix.directory.appending("state"))"
                [store]
                root = "\(nix.storeRoot)"
                [hook]
                socket = "none"
                [[destination]]
                url = "file://\(cache)"
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        let published = { (cache: String, path: String) in
            FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: path))")
        }
        try write(one)
        let watch = try BackgroundProcess(narsyncExecutable, ["watch", "--config", config],
                                          environment: nix.environment, logFile: nix.directory.appending("watch.log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        let first = try add("first")
        #expect(eventually { published(one, first) }, "\(watch.output)")

        try write(two)
        kill(watch.process.processIdentifier, SIGHUP)
        #expect(eventually { watch.output.contains("SIGHUP: reloaded the configuration") }, "\(watch.output)")
        let second = try add("second")
        #expect(eventually { published(two, second) }, "\(watch.output)")
        #expect(!published(one, second))
        #expect(watch.stop(SIGTERM) == 0)
    }

    @Test func aBadFileOnSIGHUPIsLoggedAndTheServiceGoesOn() throws {
        let nix = try NixEnvironment()
        // The store must exist before narsync can watch its database.
        try nix.createStore()
        let config = nix.directory.appending("config.toml")
        try """
            state-dir = "\(nix.directory.appending("state"))"
            [store]
            root = "\(nix.storeRoot)"
            [hook]
            socket = "none"
            [watch]
            recheck-seconds = 2
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let watch = try BackgroundProcess(narsyncExecutable, ["watch", "--config", config],
                                          environment: nix.environment, logFile: nix.directory.appending("watch.log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")

        try "[watch]\nrecheck-seconds = \"often\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(watch.process.processIdentifier, SIGHUP)
        #expect(eventually { watch.output.contains("SIGHUP: keeping the running configuration") }, "\(watch.output)")
        #expect(watch.output.contains("\(config):2"))
        #expect(watch.process.isRunning)

        // Still at work: a path added now is published.
        try "late".write(toFile: nix.directory.appending("late"), atomically: true, encoding: .utf8)
        let late = try nix.add(nix.directory.appending("late"))
        #expect(eventually { FileManager.default.fileExists(atPath: nix.directory.appending("state/cache/\(narInfoName(of: late))")) }, "\(watch.output)")
        #expect(watch.stop(SIGTERM) == 0)
    }
}

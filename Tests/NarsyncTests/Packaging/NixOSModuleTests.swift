import Foundation
import Testing
import TestSupport

/// packaging/nixos/module.nix evaluated for real: nixpkgs' `lib.evalModules`, with the NixOS
/// options the module sets declared with NixOS's types (packaging/nixos/test/nixos-options.nix)
/// and a stand-in `pkgs`. What it generates is then checked by what would read it: the unit by
/// `systemd-analyze verify`, config.toml by `narsync config check`.
@Suite(.enabled(if: NixpkgsLib.directory != nil, Comment(rawValue: NixpkgsLib.skipReason)))
struct NixOSModuleTests {
    let evaluator: NixOSModuleEvaluator

    init() throws { evaluator = try NixOSModuleEvaluator() }

    /// A configuration with `services.narsync` set to `options` (Nix attribute text).
    static func configuration(_ options: String, extra: String = "") -> String {
        "{ services.narsync = { enable = true; \(options) }; \(extra) }"
    }

    static let s3WithCredentials = configuration("""
        keyFile = "/etc/narsync/signing-key.sec";
        destinations = [{ url = "s3://cache?region=eu-west-1"; credentialsFile = "/etc/narsync/s3-credentials"; }];
        """)

    /// Evaluates `configuration`, expects no failed assertion, and checks the generated
    /// config.toml with `narsync config check` and the unit with `systemd-analyze verify`.
    private func evaluateAndCheck(_ configuration: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (ModuleEvaluation, check: String) {
        let evaluation = try evaluator.evaluate(configuration)
        #expect(evaluation.failedAssertions.isEmpty, "\(evaluation.failedAssertions)", sourceLocation: sourceLocation)
        let toml = try #require(evaluation.configToml, sourceLocation: sourceLocation)
        let check = try evaluator.checkConfiguration(toml)
        #expect(check.status == 0, "\(check.standardError)\n\(toml)", sourceLocation: sourceLocation)
        if (try? Subprocess.which("systemd-analyze")) != nil {
            let verify = try evaluator.verify(unit: try #require(evaluation.unit, sourceLocation: sourceLocation))
            #expect(verify.status == 0 && verify.standardError.isEmpty, "\(verify.standardError)\n\(evaluation.unit ?? "")", sourceLocation: sourceLocation)
        }
        return (evaluation, check.standardOutput)
    }

    @Test func oneS3DestinationWithCredentials() throws {
        let (evaluation, check) = try evaluateAndCheck(Self.s3WithCredentials)
        let service = try #require(evaluation.service)
        // The secrets reach the service as credentials, named in config.toml where systemd puts them.
        #expect(service.values("Service", "LoadCredential") == [
            "destination-0-key:/etc/narsync/signing-key.sec", "destination-0-s3-credentials:/etc/narsync/s3-credentials",
        ])
        let toml = evaluation.configToml ?? ""
        #expect(toml.contains("key-files = [\"/run/credentials/narsync.service/destination-0-key\"]"), "\(toml)")
        #expect(toml.contains("credentials-file = \"/run/credentials/narsync.service/destination-0-s3-credentials\""), "\(toml)")
        #expect(check.contains("url = \"s3://cache?region=eu-west-1\""), "\(check)")
        #expect(service.value("Service", "ExecStart") == "\(evaluator.narsyncPackage)/bin/narsync watch --config /etc/narsync/config.toml")
        #expect(service.value("Service", "ExecReload") == "\(evaluator.coreutilsPackage)/bin/kill -HUP $MAINPID")
        #expect(evaluation.systemPackages == [evaluator.narsyncPackage])
        #expect(evaluation.warnings == [])
    }

    @Test func twoDestinationsEachWithItsOwnKeyAndFilters() throws {
        let (evaluation, check) = try evaluateAndCheck(Self.configuration("""
            keyFile = "/etc/narsync/signing-key.sec";
            jobs = 8;
            destinations = [
              { url = "file:///var/cache/nix"; include = [ "hello-*" ]; }
              { url = "https://cache.example/nix"; keyFile = "/etc/narsync/other.sec"; bearerTokenFile = "/etc/narsync/token"; jobs = 2; }
            ];
            """))
        let service = try #require(evaluation.service)
        #expect(service.values("Service", "LoadCredential") == [
            "destination-0-key:/etc/narsync/signing-key.sec", "destination-1-key:/etc/narsync/other.sec",
            "destination-1-bearer-token:/etc/narsync/token",
        ])
        #expect(check.components(separatedBy: "[[destination]]").count == 3, "\(check)")
        #expect(check.contains("url = \"file:///var/cache/nix\""), "\(check)")
        #expect(check.contains("include = [\"hello-*\"]"), "\(check)")
        #expect(check.contains("bearer-token-file = \"") && check.contains("destination-1-bearer-token\""), "\(check)")
        #expect(check.contains("jobs = 8") && check.contains("jobs = 2"), "\(check)")
    }

    @Test func metricsOnListenWhereTheyAreAsked() throws {
        let (evaluation, check) = try evaluateAndCheck(Self.configuration("""
            keyFile = "/etc/narsync/signing-key.sec";
            destinations = [{ url = "file:///var/cache/nix"; }];
            metrics = { enable = true; listen = "127.0.0.1:9471"; };
            """))
        #expect(evaluation.configToml?.contains("[metrics]\nlisten = \"127.0.0.1:9471\"") == true, "\(evaluation.configToml ?? "")")
        #expect(check.contains("listen = \"127.0.0.1:9471\""), "\(check)")

        let (without, _) = try evaluateAndCheck(Self.configuration("""
            keyFile = "/etc/narsync/signing-key.sec";
            destinations = [{ url = "file:///var/cache/nix"; }];
            """))
        #expect(without.configToml?.contains("[metrics]") == false)
    }

    @Test func theHookOnSetsNixsPostBuildHookAndGivesTheSocketItsGroup() throws {
        let (on, check) = try evaluateAndCheck(Self.s3WithCredentials)
        #expect(on.postBuildHook == "\(evaluator.narsyncPackage)/bin/narsync-hook")
        #expect(on.groups == ["narsync-hook"])
        #expect(on.service?.values("Service", "SupplementaryGroups") == ["narsync-hook"])
        #expect(check.contains("trust-groups = [\"narsync-hook\"]"), "\(check)")

        let (builders, builderCheck) = try evaluateAndCheck(Self.configuration("""
            keyFile = "/etc/narsync/signing-key.sec";
            destinations = [{ url = "file:///var/cache/nix"; }];
            hookSocketGroup = "builders";
            """))
        #expect(builders.service?.values("Service", "SupplementaryGroups") == ["builders"])
        #expect(builders.groups == ["builders"])
        #expect(builderCheck.contains("trust-groups = [\"builders\"]"), "\(builderCheck)")

        let (off, _) = try evaluateAndCheck(Self.configuration("""
            keyFile = "/etc/narsync/signing-key.sec";
            destinations = [{ url = "file:///var/cache/nix"; }];
            setPostBuildHook = false;
            hookSocketGroup = null;
            """))
        #expect(off.postBuildHook == nil)
        #expect(off.groups == [])
        #expect(off.service?.values("Service", "SupplementaryGroups") == [])
    }

    @Test func extraSettingsMergeOverTheModulesOwn() throws {
        let (evaluation, check) = try evaluateAndCheck(Self.configuration("""
            keyFile = "/etc/narsync/signing-key.sec";
            destinations = [{ url = "file:///var/cache/nix"; }];
            settings = { log-format = "json"; watch.debounce-ms = 250; watch.initial-backfill = true; };
            """))
        #expect(evaluation.failedAssertions.isEmpty)
        #expect(check.contains("log-format = \"json\""), "\(check)")
        #expect(check.contains("debounce-ms = 250"), "\(check)")
        #expect(check.contains("initial-backfill = true"), "\(check)")
        // The module's own settings stay beside them.
        #expect(check.contains("state-dir = \"/var/lib/narsync\""), "\(check)")
    }

    @Test func disabledItSetsNothing() throws {
        let evaluation = try evaluator.evaluate("{ services.narsync.destinations = [{ url = \"file:///c\"; }]; }")
        #expect(evaluation.failedAssertions.isEmpty)
        #expect(evaluation.unit == nil && evaluation.configToml == nil && evaluation.postBuildHook == nil)
        #expect(evaluation.systemPackages == [])
    }

    @Test func noDestinationIsRefusedWithTheModulesMessage() throws {
        let evaluation = try evaluator.evaluate(Self.configuration("keyFile = \"/etc/narsync/signing-key.sec\";"))
        #expect(evaluation.failedAssertions == ["services.narsync.destinations must name at least one cache."])
        #expect(evaluation.unit == nil)
    }

    /// A path literal would be copied into the world-readable store once anything interpolates
    /// it: refused with the option's name and why, and nothing of it reached the (private) store.
    @Test func aKeyGivenAsAPathLiteralIsRefusedBeforeItReachesTheStore() throws {
        let secret = evaluator.nix.directory.appending("literal-signing-key.sec")
        try "narsync-1:c2VjcmV0\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let evaluation = try evaluator.evaluate(Self.configuration("""
            keyFile = \(secret);
            destinations = [{ url = "file:///var/cache/nix"; credentialsFile = "/nix/store/00000000000000000000000000000000-creds"; }];
            """))
        #expect(evaluation.failedAssertions == [
            "services.narsync.destinations.0.credentialsFile is \"/nix/store/00000000000000000000000000000000-creds\", in the Nix store: "
                + Self.secretAdvice,
            "services.narsync.keyFile is the path literal \(secret): " + Self.secretAdvice,
        ], "\(evaluation.failedAssertions)")
        #expect(!evaluator.storeContents().contains { $0.hasSuffix("literal-signing-key.sec") }, "\(evaluator.storeContents())")
    }

    static let secretAdvice = "the Nix store is world-readable, so a secret must not be there. Give the file's name as a string "
        + "outside the store, e.g. \"/etc/narsync/signing-key.sec\"; systemd hands it to the service as a credential."

    /// The option types are checked by lib.evalModules itself, as on NixOS.
    @Test func aValueOfTheWrongTypeFailsNamingTheOption() throws {
        let error = #expect(throws: TestFailure.self) {
            try evaluator.evaluate(Self.configuration("destinations = [{ url = \"file:///c\"; jobs = 0; }];"))
        }
        #expect(error?.description.contains("services.narsync.destinations.\"[definition 1-entry 1]\".jobs") == true, "\(String(describing: error))")
    }

    /// The module's service runs like packaging/systemd/narsync.service: the same user, directories
    /// and hardening, directive for directive. Only what differs by design is left out: commands,
    /// credentials and environment, and the configuration directory (NixOS writes /etc itself).
    @Test func theServiceCarriesTheSameHardeningAsTheSystemdUnit() throws {
        let unit = SystemdUnit(try RepositoryFiles.text("packaging/systemd/narsync.service"))
        let service = try #require(try evaluator.evaluate(Self.s3WithCredentials).service)
        let moduleKeys = Self.hardeningKeys(service), unitKeys = Self.hardeningKeys(unit)
        #expect(moduleKeys == unitKeys, "module only: \(moduleKeys.subtracting(unitKeys)), unit only: \(unitKeys.subtracting(moduleKeys))")
        for key in unitKeys.sorted() {
            #expect(Self.normalized(service, key) == Self.normalized(unit, key), "\(key)")
        }
        #expect(service.value("Service", "DynamicUser") == "true")
        #expect(service.values("Service", "ReadWritePaths").isEmpty)
    }

    static let differentByDesign: Set<String> = [
        "Type", "NotifyAccess", "ExecStart", "ExecReload", "Restart", "RestartSec", "TimeoutStopSec",
        "LoadCredential", "Environment", "ConfigurationDirectory", "RuntimeDirectoryPreserve",
    ]

    /// The [Service] directives that say how the service runs, not what it runs.
    static func hardeningKeys(_ unit: SystemdUnit) -> Set<String> {
        let keys = unit.directives.filter { $0.section == "Service" }.map(\.key)
        return Set(keys).subtracting(differentByDesign)
    }

    /// A directive's values as systemd reads them: yes and true alike, a list the same in one
    /// line or several.
    static func normalized(_ unit: SystemdUnit, _ key: String) -> [String] {
        let words: [String] = unit.values("Service", key).flatMap { $0.split(separator: " ").map(String.init) }
        return words.map { $0 == "true" ? "yes" : $0 == "false" ? "no" : $0 }.sorted()
    }

    /// package.nix evaluated against the same lib with stand-ins for nixpkgs' packages (nixpkgs'
    /// package set is not here), then its installPhase run on the built programs.
    @Test func thePackageEvaluatesAndItsInstallPhaseInstallsManualsAndCompletions() throws {
        let package = try evaluator.evaluatePackage()
        #expect(package["pname"] as? String == "narsync")
        let version = try Subprocess.checked(narsyncExecutable, ["--version"]).trimmedOutput
        #expect(package["version"] as? String == version)
        #expect((package["meta"] as? [String: Any])?["mainProgram"] as? String == "narsync")
        #expect(package["buildInputs"] as? [String] == ["curl", "libsodium", "sqlite", "zstd", "openssl"])
        let flags = package["swiftpmFlags"] as? [String] ?? []
        #expect(flags.contains { $0.contains("-curl-dev/include") } && flags.contains { $0.contains("-curl-lib/lib/libcurl.so.4") }, "\(flags)")
        #expect(package["sourceFilter"] as? [String: Bool] == [".build": false, ".build-release": false, "Sources": true, "Package.swift": true])

        let installPhase = try #require(package["installPhase"] as? String)
        let directory = try TemporaryDirectory()
        try installPhase.write(toFile: directory.appending("installPhase"), atomically: true, encoding: .utf8)
        let built = (narsyncExecutable as NSString).deletingLastPathComponent
        let tool = "\(built)/generate-manual"
        try #require(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is missing: swift build --product generate-manual (scripts/test builds it)")
        let out = directory.appending("out")
        let install = try Subprocess.run(RepositoryFiles.path("packaging/nixos/test/run-install-phase"), [directory.appending("installPhase"), built, out])
        #expect(install.status == 0, "\(install.standardError)")
        for file in ["bin/narsync", "bin/narsync-hook", "share/man/man1/narsync.1", "share/man/man1/narsync-watch.1",
                     "share/man/man1/narsync-config-check.1", "share/bash-completion/completions/narsync",
                     "share/zsh/site-functions/_narsync", "share/fish/vendor_completions.d/narsync.fish"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "\(file)")
        }
        let unit = SystemdUnit(try String(contentsOfFile: "\(out)/lib/systemd/system/narsync.service", encoding: .utf8))
        #expect(unit.value("Service", "ExecStart") == "\(out)/bin/narsync watch --config /etc/narsync/config.toml")
    }
}

import Foundation
import TestSupport

/// nixpkgs' lib/, which `lib.evalModules` comes from: the directory `NARSYNC_TEST_NIXPKGS_LIB`
/// names (the shared nixpkgs-lib tarball unpacked; scripts/test sets it when ../shared has the
/// tarball). Either lib/ itself or a directory holding it.
enum NixpkgsLib {
    static let variable = "NARSYNC_TEST_NIXPKGS_LIB"

    static let directory: String? = {
        guard let given = ProcessInfo.processInfo.environment[variable], !given.isEmpty else { return nil }
        return [given, "\(given)/lib", "\(given)/nixpkgs-lib/lib"].first {
            FileManager.default.fileExists(atPath: "\($0)/default.nix") && FileManager.default.fileExists(atPath: "\($0)/modules.nix")
        }
    }()

    static let skipReason = "\(variable) is unset or names no nixpkgs lib/: the NixOS module is not evaluated (scripts/test sets it from ../shared/nixpkgs-lib)"
}

/// What packaging/nixos/test/eval-module.nix returns for one configuration.
struct ModuleEvaluation: Decodable {
    var failedAssertions: [String]
    var unit: String?
    var configToml: String?
    var postBuildHook: String?
    var systemPackages: [String]?
    var groups: [String]?
    var warnings: [String]?

    /// The generated unit, read as systemd reads it.
    var service: SystemdUnit? { unit.map(SystemdUnit.init) }
}

/// Evaluates packaging/nixos/module.nix and packaging/nix/package.nix with Nix 2.8's
/// `nix-instantiate --eval` against nixpkgs' lib, in a private Nix (its own nix.conf, cache and
/// store). The module's packages are directories standing for narsync and coreutils, whose
/// programs are the built narsync and the system's kill, so the generated unit runs real ones.
final class NixOSModuleEvaluator {
    let nix: NixEnvironment
    let narsyncPackage: String
    let coreutilsPackage: String
    private let lib: String

    init() throws {
        lib = try NixpkgsLib.directory ?? { throw TestFailure(NixpkgsLib.skipReason) }()
        nix = try NixEnvironment()
        narsyncPackage = nix.directory.appending("narsync-package")
        coreutilsPackage = nix.directory.appending("coreutils-package")
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: "\(narsyncPackage)/bin", withIntermediateDirectories: true)
        try fileManager.createDirectory(atPath: "\(coreutilsPackage)/bin", withIntermediateDirectories: true)
        let built = (narsyncExecutable as NSString).deletingLastPathComponent
        try fileManager.createSymbolicLink(atPath: "\(narsyncPackage)/bin/narsync", withDestinationPath: "\(built)/narsync")
        try fileManager.createSymbolicLink(atPath: "\(narsyncPackage)/bin/narsync-hook", withDestinationPath: "\(built)/narsync-hook")
        try fileManager.createSymbolicLink(atPath: "\(coreutilsPackage)/bin/kill", withDestinationPath: try Subprocess.which("kill"))
    }

    /// Evaluates the module under `configuration`, the text of a NixOS module (`{ services.narsync = ...; }`).
    func evaluate(_ configuration: String) throws -> ModuleEvaluation {
        let file = nix.directory.appending("configuration-\(UUID().uuidString).nix")
        try configuration.write(toFile: file, atomically: true, encoding: .utf8)
        let output = try evaluate("packaging/nixos/test/eval-module.nix", [
            "--argstr", "configuration", file, "--argstr", "narsync", narsyncPackage, "--argstr", "coreutils", coreutilsPackage,
        ])
        return try JSONDecoder().decode(ModuleEvaluation.self, from: output)
    }

    /// Evaluates package.nix with stand-ins for nixpkgs' packages (eval-package.nix).
    func evaluatePackage() throws -> [String: Any] {
        let output = try evaluate("packaging/nixos/test/eval-package.nix", [])
        return try JSONSerialization.jsonObject(with: output) as? [String: Any] ?? [:]
    }

    /// Evaluation only, in the private store: --read-write-mode lets builtins.toFile write the
    /// generated config.toml there, and shows what else an evaluation would put in the store.
    private func evaluate(_ harness: String, _ arguments: [String]) throws -> Data {
        let result = try nix.run("nix-instantiate", [
            "--eval", "--strict", "--json", "--read-write-mode", "--store", nix.storeRoot,
            RepositoryFiles.path(harness), "--argstr", "nixpkgsLib", lib,
        ] + arguments)
        return Data(result.outputBytes)
    }

    /// The names of what evaluations have written to the private store.
    func storeContents() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "\(nix.storeRoot)/nix/store")) ?? []
    }

    /// Runs `narsync config check` on a generated config.toml, with each credential it names
    /// under /run/credentials/narsync.service stubbed by a file of the right kind, mode 0600,
    /// in a directory of this test.
    func checkConfiguration(_ toml: String) throws -> ProcessResult {
        let credentialsDirectory = "/run/credentials/narsync.service"
        let stubs = nix.directory.appending("credentials-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: stubs, withIntermediateDirectories: true)
        let names = Set(toml.matches(of: /\/run\/credentials\/narsync\.service\/([A-Za-z0-9-]+)/).map { String($0.output.1) })
        for name in names {
            let file = "\(stubs)/\(name)"
            if name.hasSuffix("-key") {
                try Subprocess.checked(narsyncExecutable, ["keygen", "\(name)-1", file, "\(file).pub"])
            } else {
                let content = name.hasSuffix("-s3-credentials") ? "[default]\naws_access_key_id = AKIASTUB\naws_secret_access_key = stub\n"
                    : name.hasSuffix("-netrc") ? "machine cache.example login narsync password stub\n" : "stub-token\n"
                try content.write(toFile: file, atomically: true, encoding: .utf8)
                chmod(file, 0o600)
            }
        }
        let configuration = "\(stubs)/config.toml"
        try toml.replacingOccurrences(of: credentialsDirectory, with: stubs).write(toFile: configuration, atomically: true, encoding: .utf8)
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NARSYNC_") && !$0.key.hasPrefix("AWS_") }
        return try Subprocess.run(narsyncExecutable, ["config", "check", "--config", configuration], environment: environment)
    }

    /// `systemd-analyze verify` on a generated unit, written as narsync.service.
    func verify(unit: String) throws -> ProcessResult {
        let directory = nix.directory.appending("unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try unit.write(toFile: "\(directory)/narsync.service", atomically: true, encoding: .utf8)
        return try Subprocess.run("systemd-analyze", ["verify", "\(directory)/narsync.service"])
    }
}

import Foundation
import Testing
import TestSupport

/// packaging/nixos and packaging/nix: Nix's parser checks the syntax, and the text the options
/// it promises, wherever the tests run; NixOSModuleTests evaluates them where nixpkgs' lib/ is
/// at hand.
@Suite struct NixFilesTests {
    static let files = [
        "packaging/nixos/module.nix", "packaging/nix/package.nix",
        "packaging/nixos/test/nixos-options.nix", "packaging/nixos/test/eval-module.nix", "packaging/nixos/test/eval-package.nix",
    ]

    @Test(arguments: files) func parsesWithNixInstantiate(_ file: String) throws {
        let result = try Subprocess.run("nix-instantiate", ["--parse", RepositoryFiles.path(file)])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(!result.standardOutput.isEmpty)
    }

    @Test func aBrokenFileFailsToParse() throws {
        let directory = try TemporaryDirectory()
        let broken = try RepositoryFiles.text("packaging/nixos/module.nix").replacingOccurrences(of: "};\n", with: "}\n")
        try broken.write(toFile: directory.appending("module.nix"), atomically: true, encoding: .utf8)
        let result = try Subprocess.run("nix-instantiate", ["--parse", directory.appending("module.nix")])
        #expect(result.status != 0)
    }

    @Test func theModuleOffersTheOptionsOfTheIssue() throws {
        let module = try RepositoryFiles.text("packaging/nixos/module.nix")
        for option in ["enable", "destinations", "keyFile", "jobs", "filters", "metrics", "setPostBuildHook"] {
            #expect(module.contains("\n    \(option) = "), "services.narsync.\(option)")
        }
        #expect(module.contains("post-build-hook = \"${cfg.package}/bin/narsync-hook\""))
        #expect(module.contains("narsync watch --config /etc/narsync/config.toml"))
        // A Nix path literal would copy a secret file into the world-readable store.
        #expect(!module.contains("types.path"))
        #expect(module.contains("LoadCredential"))
    }

    /// The nix.conf fragment, read by a real Nix: the hook is set and no setting is unknown.
    @Test func nixReadsTheNixConfFragment() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: RepositoryFiles.path("packaging/examples/nix.conf"), toPath: directory.appending("nix.conf"))
        var environment = ProcessInfo.processInfo.environment
        environment["NIX_CONF_DIR"] = directory.path
        let result = try Subprocess.run("nix", ["--extra-experimental-features", "nix-command", "show-config"], environment: environment)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("post-build-hook = /usr/bin/narsync-hook"))
        #expect(!result.standardError.contains("warning"), "\(result.standardError)")
    }
}

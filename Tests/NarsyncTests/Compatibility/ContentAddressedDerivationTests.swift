import Foundation
import Testing
import TestSupport

/// Content-addressed derivations (`ca-derivations`) with Nix 2.26: narsync publishes the
/// realisations Nix recorded beside the outputs' narinfos, signed as Nix signs them, and a
/// fresh store substitutes the output by its derivation alone.
@Suite(.enabled(if: NixVersion.tested.contains(.v2_26), "needs root to run Nix 2.26"))
struct ContentAddressedDerivationTests {
    @Test func aFreshStoreSubstitutesByDerivationAndTheRealisationsMatchNixCopy() throws {
        let nix = try NixEnvironment(nix: .v2_26, extraConfig: "extra-experimental-features = ca-derivations")
        // Nix signs the realisations it records with its secret-key-files; narsync with the
        // same key must then write the very same .doi.
        let key = try nix.generateKey(name: "ca-test-1")
        let config = "\(nix.configDirectory)/nix.conf"
        try (String(contentsOfFile: config, encoding: .utf8) + "secret-key-files = \(key.secretKeyFile)\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        // Each run of a builder adds a line: a substituted output adds none. Nix builds for a
        // chroot store in its sandbox, which sees this directory besides the system's.
        let runsDirectory = nix.directory.appending("runs")
        try FileManager.default.createDirectory(atPath: runsDirectory, withIntermediateDirectories: true)
        let runs = "\(runsDirectory)/builder-runs"
        let sandboxPaths = ["--option", "sandbox-paths", "/bin /usr /lib /lib64 \(runsDirectory)"]
        let expression = nix.directory.appending("ca.nix")
        try """
            let mk = name: script: derivation {
              inherit name; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/bin:/usr/bin";
              args = [ "-c" "echo ${name} >> \(runs); ${script}" ];
              __contentAddressed = true; outputHashMode = "recursive"; outputHashAlgo = "sha256";
              salt = "\(UUID())";
            };
            in rec { dependency = mk "ca-dependency" "echo dependency > $out"; top = mk "ca-top" "echo ${dependency} > $out"; }
            """.write(toFile: expression, atomically: true, encoding: .utf8)
        let top = try nix.run("nix-build", ["--store", nix.storeRoot, "--no-out-link", expression, "-A", "top"] + sandboxPaths).trimmedOutput
        let derivation = try nix.run("nix-instantiate", ["--store", nix.storeRoot, expression, "-A", "top"]).trimmedOutput
        #expect(try String(contentsOfFile: runs, encoding: .utf8).split(separator: "\n").count == 2)

        let ours = nix.directory.appending("narsync-cache"), theirs = nix.directory.appending("nix-cache")
        let backfill = try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", "file://\(ours)", "--key-file", key.secretKeyFile, "--store-root", nix.storeRoot, top,
        ], environment: nix.environment)
        #expect(backfill.status == 0, "\(backfill.standardError)")
        try nix.run("nix", ["copy", "--store", nix.storeRoot, "--to", "file://\(theirs)?compression=zstd", "\(derivation)^out"])

        // Every realisation Nix uploads, narsync has too, field for field and byte for byte.
        let nixRealisations = try FileManager.default.contentsOfDirectory(atPath: "\(theirs)/realisations")
        #expect(nixRealisations.count == 2, "\(nixRealisations)")
        for name in nixRealisations {
            let expected = try String(contentsOfFile: "\(theirs)/realisations/\(name)", encoding: .utf8)
            let published = try? String(contentsOfFile: "\(ours)/realisations/\(name)", encoding: .utf8)
            #expect(published == expected, "\(name)")
            let fields = { (text: String?) in try? JSONSerialization.jsonObject(with: Data((text ?? "").utf8)) as? NSDictionary }
            #expect(fields(published) == fields(expected), "\(name)")
        }

        // A fresh store builds the same derivation with narsync's cache as its substituter and
        // signatures required: the output comes from the cache, no builder runs.
        let fresh = nix.makeStoreRoot("fresh")
        let rebuilt = try nix.attempt("nix-build", [
            "--store", fresh, "--no-out-link", expression, "-A", "top",
            "--option", "substituters", "file://\(ours)", "--option", "require-sigs", "true",
            "--option", "trusted-public-keys", key.publicKey,
        ] + sandboxPaths)
        #expect(rebuilt.status == 0, "\(rebuilt.standardError)")
        #expect(rebuilt.trimmedOutput == top, "\(rebuilt.standardError)")
        #expect(try String(contentsOfFile: runs, encoding: .utf8).split(separator: "\n").count == 2, "a builder ran: \(rebuilt.standardError)")
        #expect(try nix.verifyContents(storeRoot: fresh).status == 0)
    }

    /// The service publishes the realisation of what Nix builds while it runs, after its narinfo.
    @Test func watchPublishesTheRealisationsOfWhatNixBuilds() throws {
        let nix = try NixEnvironment(nix: .v2_26, extraConfig: "extra-experimental-features = ca-derivations")
        try nix.createStore()
        let state = nix.directory.appending("state"), cache = nix.directory.appending("state/cache")
        let watch = try BackgroundProcess(narsyncExecutable, [
            "watch", "--store-root", nix.storeRoot, "--state-dir", state, "--hook-socket", "none",
        ], environment: nix.environment, logFile: nix.directory.appending("watch.log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        let expression = nix.directory.appending("ca.nix")
        try """
            derivation { name = "ca-watched"; system = builtins.currentSystem; builder = "/bin/sh"; PATH = "/bin:/usr/bin";
              args = [ "-c" "echo \(UUID()) > $out" ]; __contentAddressed = true; outputHashMode = "recursive"; outputHashAlgo = "sha256"; }
            """.write(toFile: expression, atomically: true, encoding: .utf8)
        let output = try nix.build(String(contentsOfFile: expression, encoding: .utf8))[0]
        let realisations = "\(cache)/realisations"
        #expect(eventually { ((try? FileManager.default.contentsOfDirectory(atPath: realisations)) ?? []).contains { $0.hasSuffix("!out.doi") } },
                "\(watch.output)")
        #expect(FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: output))"))
        #expect(watch.stop() == 0)
        let publicKey = try String(contentsOfFile: "\(state)/signing-key.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: realisations).first)
        let json = try String(contentsOfFile: "\(realisations)/\(name)", encoding: .utf8)
        #expect(json.contains("\"outPath\":\"\((output as NSString).lastPathComponent)\""), "\(json)")
        #expect(json.contains("\"\(publicKey.split(separator: ":")[0]):"), "signed by the service's key: \(json)")
    }
}

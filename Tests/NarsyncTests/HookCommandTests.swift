import Foundation
import NixStore
import Hook
import Testing
import TestSupport

/// `narsync hook` as Nix runs it: a post-build-hook of a real Nix build.
@Suite struct HookCommandTests {
    let store = StoreDirectory.standard

    /// A directory for sockets, spools and hook scripts.
    final class Workspace: @unchecked Sendable {
        let directory: TemporaryDirectory
        var socketPath: String { directory.appending("hook.sock") }
        var spool: Spool { Spool(directory: directory.appending("spool")) }

        init() throws { directory = try TemporaryDirectory(prefix: "narsync-hook") }

        /// The script Nix runs: Nix passes no arguments, only OUT_PATHS and DRV_PATH.
        func hookScript() throws -> String {
            let path = directory.appending("post-build-hook.sh")
            let script = "#!/bin/sh\nexec '\(narsyncExecutable)' hook --socket '\(socketPath)' --spool-dir '\(spool.directory)'\n"
            try script.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
            return path
        }

        func hook(_ arguments: [String], environment: [String: String] = [:], input: [UInt8]? = nil) throws -> ProcessResult {
            var full = ProcessInfo.processInfo.environment
            full.removeValue(forKey: "OUT_PATHS")
            full.removeValue(forKey: "DRV_PATH")
            full.merge(environment) { $1 }
            return try Subprocess.run(narsyncExecutable, ["hook", "--socket", socketPath, "--spool-dir", spool.directory] + arguments,
                                      environment: full, input: input)
        }
    }

    private func deriver(of path: String, in nix: NixEnvironment) throws -> String {
        try nix.run("nix-store", ["--store", nix.storeRoot, "--query", "--deriver", path]).trimmedOutput
    }

    @Test func withTheServiceStoppedBuildsSucceedAndRequestsLandInTheSpool() throws {
        let workspace = try Workspace()
        let nix = try NixEnvironment(extraConfig: "post-build-hook = \(try workspace.hookScript())")
        let started = ContinuousClock.now
        let outputs = try nix.build(shellDerivation(name: "hooked", script: "echo \(UUID().uuidString) > $out"))
        let elapsed = ContinuousClock.now - started
        #expect(elapsed < Duration.seconds(10).scaled, "the build took \(elapsed)")

        let pending = try workspace.spool.pending()
        #expect(pending.count == 1)
        let request = try workspace.spool.read(try #require(pending.first), storeDirectory: store)
        #expect(request.outputs.map(store.fullPath(of:)) == outputs)
        #expect(request.derivation.map(store.fullPath(of:)) == (try deriver(of: outputs[0], in: nix)))
    }

    @Test func withTheServiceRunningTheCallbackGetsTheOutputPath() throws {
        let workspace = try Workspace()
        let received = Recorder<[StorePath]>()
        let server = try HookServer(configuration: .init(socketPath: workspace.socketPath, spool: workspace.spool)) { outputs, _ in
            received.record(outputs)
            return outputs.count
        }
        defer { server.shutdown() }
        let nix = try NixEnvironment(extraConfig: "post-build-hook = \(try workspace.hookScript())")
        let outputs = try nix.build(shellDerivation(name: "hooked-live", script: "echo \(UUID().uuidString) > $out"))

        #expect(received.wait(forCount: 1).map { $0.map(store.fullPath(of:)) } == [outputs])
        #expect(try workspace.spool.pending().isEmpty)
    }

    /// The lighter binary that does only what `narsync hook` does.
    static var narsyncHookExecutable: String { (narsyncExecutable as NSString).deletingLastPathComponent + "/narsync-hook" }

    @Test(arguments: [narsyncExecutable, narsyncHookExecutable])
    func aBinaryItselfIsAPostBuildHook(executable: String) throws {
        // `post-build-hook = /path/to/narsync`: no script, settings from Nix's environment.
        let workspace = try Workspace()
        let nix = try NixEnvironment(extraConfig: "post-build-hook = \(executable)")
        var environment = nix.environment
        environment["NARSYNC_HOOK_SOCKET"] = workspace.socketPath
        environment["NARSYNC_SPOOL_DIR"] = workspace.spool.directory
        let file = nix.directory.appending("bare.nix")
        try shellDerivation(name: "hooked-bare", script: "echo \(UUID().uuidString) > $out").write(toFile: file, atomically: true, encoding: .utf8)
        let built = try Subprocess.checked("nix-build", [
            "--store", nix.storeRoot, "--option", "sandbox-paths", "/bin /usr /lib /lib64", "--no-out-link", file,
        ], environment: environment).trimmedOutput

        let pending = try workspace.spool.pending()
        #expect(pending.count == 1)
        #expect(try pending.map { try workspace.spool.read($0, storeDirectory: store).outputs.map(store.fullPath(of:)) } == [[built]])
    }

    @Test func aSymlinkNamedNarsyncHookIsTheHook() throws {
        let workspace = try Workspace()
        let link = workspace.directory.appending("narsync-hook")
        #expect(symlink(narsyncExecutable, link) == 0)
        let output = "/nix/store/" + randomStorePathBaseName("linked")
        var environment = ProcessInfo.processInfo.environment
        environment["OUT_PATHS"] = output
        environment["NARSYNC_HOOK_SOCKET"] = workspace.socketPath
        environment["NARSYNC_SPOOL_DIR"] = workspace.spool.directory
        let result = try Subprocess.run(link, [], environment: environment)
        #expect(result.status == 0)
        #expect(result.standardError.hasPrefix("narsync hook: spooled 1 path"), "\(result.standardError)")
        #expect(try workspace.spool.pending().map { try workspace.spool.read($0, storeDirectory: store).outputs.map(store.fullPath(of:)) } == [[output]])
    }

    @Test(arguments: [["--bogus"], ["--store-dir", "relative"], ["--socket"]])
    func badArgumentsStillExitZeroWithOneLine(arguments: [String]) throws {
        let workspace = try Workspace()
        let result = try workspace.hook(arguments, environment: ["OUT_PATHS": "/nix/store/" + randomStorePathBaseName("a")])
        #expect(result.status == 0)
        #expect(result.standardError.split(separator: "\n").count == 1, "\(result.standardError)")
        #expect(try workspace.spool.pending().isEmpty)
    }

    @Test func hostileOutPathsSpoolOnlyValidPathsAndKeepTheLogShort() throws {
        let workspace = try Workspace()
        let valid = "/nix/store/" + randomStorePathBaseName("valid")
        let hostile = ["/etc/passwd", "/nix/store/../../etc/shadow", "$(touch /tmp/pwned)", "*", "/nix/store/*",
                       "a\u{1b}]0;title\u{07}", "`id`", "x;y&z|w>v<u", ""]
        // Linux limits one environment string to 128 KiB (MAX_ARG_STRLEN), so Nix could not
        // even start a hook with a 1 MiB OUT_PATHS; 100 KiB through the environment, 1 MiB on stdin.
        let garbage = String(repeating: "/nix/store/.. ", count: 100 * 1024 / 14)
        let result = try workspace.hook([], environment: ["OUT_PATHS": hostile.joined(separator: " ") + " \(valid) " + garbage])
        #expect(result.status == 0)
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.count <= 12, "\(lines.count) lines")
        #expect(!result.standardError.contains("\u{1b}"))
        #expect(lines.last?.contains("spooled 1 path") == true, "\(lines.last ?? "")")
        let pending = try workspace.spool.pending()
        #expect(try pending.map { try workspace.spool.read($0, storeDirectory: store).outputs.map(store.fullPath(of:)) } == [[valid]])

        let megabyte = String(repeating: "/nix/store/.. ", count: (1 << 20) / 14)
        let fromStandardInput = try workspace.hook(["--stdin"], input: Array((megabyte + " \(valid)").utf8))
        #expect(fromStandardInput.status == 0)
        #expect(fromStandardInput.standardError.split(separator: "\n").count <= 12)
        #expect(try workspace.spool.pending().count == 2)

        let nothing = try workspace.hook([], environment: ["OUT_PATHS": ""])
        #expect(nothing.status == 0 && nothing.standardError.contains("nothing queued"))
        #expect(try workspace.spool.pending().count == 2)
    }

    @Test func withoutOutPathsAndAnUnreadableDerivationSpoolsTheDerivation() throws {
        // Nix 2.8.0 sets OUT_PATHS empty; a .drv that is not there leaves the lookup to the service.
        let workspace = try Workspace()
        let derivation = "/nix/store/" + randomStorePathBaseName("missing.drv")
        let result = try workspace.hook(["--store-root", workspace.directory.path], environment: ["OUT_PATHS": "", "DRV_PATH": derivation])
        #expect(result.status == 0)
        #expect(result.standardError.contains("OUT_PATHS is empty"), "\(result.standardError)")
        let pending = try workspace.spool.pending()
        let request = try workspace.spool.read(try #require(pending.first), storeDirectory: store)
        #expect(pending.count == 1 && request.outputs.isEmpty)
        #expect(request.derivation.map(store.fullPath(of:)) == derivation)
    }

    @Test func readsPathsFromStandardInput() throws {
        let workspace = try Workspace()
        let paths = (0..<3).map { "/nix/store/" + randomStorePathBaseName("in-\($0)") }
        let result = try workspace.hook(["--stdin"], input: Array((paths.joined(separator: "\n") + "\n").utf8))
        #expect(result.status == 0)
        let pending = try workspace.spool.pending()
        #expect(try pending.map { try workspace.spool.read($0, storeDirectory: store).outputs.map(store.fullPath(of:)) } == [paths])
    }

    /// Median wall time of 50 calls of each binary, printed for the record (a debug build on a
    /// shared machine: benchmarks/run --only hook measures the release build).
    @Test func callsAreFast() throws {
        let workspace = try Workspace()
        var environment = ProcessInfo.processInfo.environment
        environment["OUT_PATHS"] = "/nix/store/" + randomStorePathBaseName("fast")
        environment["DRV_PATH"] = "/nix/store/" + randomStorePathBaseName("fast.drv")
        environment["NARSYNC_HOOK_SOCKET"] = workspace.socketPath
        environment["NARSYNC_SPOOL_DIR"] = workspace.spool.directory
        func median(_ executable: String, _ label: String) throws -> Duration {
            var times: [Duration] = []
            for _ in 0..<50 {
                let started = ContinuousClock.now
                let result = try Subprocess.run(executable, executable == narsyncExecutable ? ["hook"] : [], environment: environment)
                times.append(ContinuousClock.now - started)
                #expect(result.status == 0)
            }
            let median = times.sorted()[times.count / 2]
            print("\((executable as NSString).lastPathComponent), \(label): median \(median) of 50 calls")
            return median
        }
        var medians: [Duration] = []
        for executable in [narsyncExecutable, Self.narsyncHookExecutable] {
            medians.append(try median(executable, "service stopped (spooling)"))
        }
        #expect(try workspace.spool.pending().count == 100)

        let server = try HookServer(configuration: .init(socketPath: workspace.socketPath, spool: nil)) { outputs, _ in outputs.count }
        defer { server.shutdown() }
        for executable in [narsyncExecutable, Self.narsyncHookExecutable] {
            medians.append(try median(executable, "service running"))
        }
        #expect(try workspace.spool.pending().count == 100)
        // Timing is the benchmark's business (benchmarks/run --only hook); this records it.
        #expect(medians.count == 4)
    }

    @Test func narsyncHookRefusesArgumentsButStillExitsZero() throws {
        let result = try Subprocess.run(Self.narsyncHookExecutable, ["/nix/store/" + randomStorePathBaseName("a")])
        #expect(result.status == 0)
        #expect(result.standardError.contains("takes no arguments"))
    }
}

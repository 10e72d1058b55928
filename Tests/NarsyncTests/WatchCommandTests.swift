import Foundation
import Testing
import TestSupport

/// `narsync watch` against a real Nix building while it runs. The tests taking a `NixVersion`
/// run against each Nix of `NixVersion.tested`.
@Suite struct WatchCommandTests {
    let nix: NixEnvironment
    let state: String
    let cache: String

    init() throws { try self.init(nix: .v2_8) }

    init(nix version: NixVersion) throws {
        nix = try NixEnvironment(nix: version)
        // The store must exist before narsync can watch its database.
        try nix.createStore()
        state = nix.directory.appending("state")
        cache = nix.directory.appending("state/cache")
    }

    private func startWatch(_ extra: [String] = []) throws -> BackgroundProcess {
        try BackgroundProcess(narsyncExecutable, [
            "watch", "--store-root", nix.storeRoot, "--state-dir", state, "--recheck-seconds", "2",
            "--hook-socket", nix.directory.appending("hook.sock"),
        ] + extra, environment: nix.environment, logFile: nix.directory.appending("watch-\(UUID().uuidString).log"))
    }


    private func isPublished(_ storePath: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: storePath))")
    }

    private func trustedKey() throws -> String {
        try String(contentsOfFile: "\(state)/signing-key.pub", encoding: .utf8)
    }

    @Test(arguments: NixVersion.tested)
    static func publishesWhatNixBuildsWhileItRunsAndNixSubstitutesIt(nix version: NixVersion) throws {
        try Self(nix: version).publishesWhatNixBuildsWhileItRunsAndNixSubstitutesIt()
    }

    func publishesWhatNixBuildsWhileItRunsAndNixSubstitutesIt() throws {
        let watch = try startWatch()
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        let checker = CacheInvariantChecker(.directory(cache))
        checker.start()

        // Step by step: each build adds outputs whose references are already published.
        let leaf = try nix.build(shellDerivation(name: "step-leaf", script: "mkdir -p $out/bin; echo leaf > $out/bin/x; chmod +x $out/bin/x"))[0]
        #expect(eventually { isPublished(leaf) }, "\(watch.output)")
        let closure = try TestClosure.build(in: nix)
        for output in closure.outputs.values { #expect(eventually { isPublished(output) }, "\(output): \(watch.output)") }
        checker.stop()
        #expect(checker.violations.isEmpty, "\(checker.violations)")
        #expect(checker.narInfosSeen >= 7)
        #expect(watch.stop(SIGTERM) == 0)
        #expect(watch.output.contains("stopped"))

        let fresh = nix.makeStoreRoot("fresh")
        let copy = try nix.substitute([closure.top, leaf], from: "file://\(cache)", into: fresh, trustedKey: try trustedKey())
        #expect(copy.status == 0, "\(copy.standardError)")
        #expect(try nix.verifyContents(storeRoot: fresh).status == 0)
    }

    @Test func pathsRegisteredWhileStoppedArePublishedAtStart() throws {
        let first = try startWatch()
        #expect(eventually { first.output.contains("watching") })
        #expect(first.stop() == 0)
        let closure = try TestClosure.build(in: nix)
        #expect(!isPublished(closure.top))
        let second = try startWatch()
        for output in closure.outputs.values { #expect(eventually { isPublished(output) }, "\(output): \(second.output)") }
        second.stop()
        // Derivations are not published by default.
        let drvs = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".narinfo") }
        #expect(drvs.count == closure.outputs.count)
    }

    /// Killed with SIGKILL, the service records nothing on its way out; what Nix registers
    /// until it is back is published when it starts again.
    @Test(arguments: NixVersion.tested)
    static func pathsRegisteredAfterAKillAreCaughtUpAtRestart(nix version: NixVersion) throws {
        try Self(nix: version).pathsRegisteredAfterAKillAreCaughtUpAtRestart()
    }

    func pathsRegisteredAfterAKillAreCaughtUpAtRestart() throws {
        let first = try startWatch()
        #expect(eventually { first.output.contains("watching") }, "\(first.output)")
        let before = try nix.build(shellDerivation(name: "before-kill", script: "echo \(UUID()) > $out"))[0]
        #expect(eventually { isPublished(before) }, "\(first.output)")
        #expect(first.stop(SIGKILL) == SIGKILL)
        let closure = try TestClosure.build(in: nix)
        #expect(!isPublished(closure.top))
        let second = try startWatch()
        for output in closure.outputs.values { #expect(eventually { isPublished(output) }, "\(output): \(second.output)") }
        #expect(second.stop() == 0)
        let fresh = nix.makeStoreRoot("fresh")
        let copy = try nix.substitute([closure.top, before], from: "file://\(cache)", into: fresh, trustedKey: try trustedKey())
        #expect(copy.status == 0, "\(copy.standardError)")
    }

    @Test func theFirstStartPublishesOnlyNewPathsUnlessAskedForTheStore() throws {
        let old = try nix.build(shellDerivation(name: "old", script: "echo old > $out"))[0]
        let watch = try startWatch()
        #expect(eventually { watch.output.contains("watching") })
        let new = try nix.build(shellDerivation(name: "new", script: "echo new > $out"))[0]
        #expect(eventually { isPublished(new) })
        #expect(!isPublished(old))
        watch.stop()

        let otherState = nix.directory.appending("state-2")
        let backfilling = try BackgroundProcess(narsyncExecutable, [
            "watch", "--store-root", nix.storeRoot, "--state-dir", otherState, "--initial-backfill", "--hook-socket", "none",
        ], environment: nix.environment, logFile: nix.directory.appending("watch-2.log"))
        #expect(eventually { FileManager.default.fileExists(atPath: "\(otherState)/cache/\(narInfoName(of: old))") }, "\(backfilling.output)")
        backfilling.stop()
    }

    @Test func aSecondWatchOnTheSameStateDirectoryRefusesToStart() throws {
        let first = try startWatch()
        #expect(eventually { first.output.contains("watching") }, "\(first.output)")
        let second = try Subprocess.run(narsyncExecutable, [
            "watch", "--store-root", nix.storeRoot, "--state-dir", state, "--hook-socket", "none",
        ], environment: nix.environment)
        #expect(second.status == 2)
        #expect(second.standardError.contains("in use by another narsync watch (pid \(first.process.processIdentifier))"),
                "\(second.standardError)")
        // The first one goes on publishing; once it is gone, kill -9 included, the directory is free.
        let path = try nix.build(shellDerivation(name: "still-served", script: "echo served > $out"))[0]
        #expect(eventually { isPublished(path) }, "\(first.output)")
        first.stop(SIGKILL)
        let third = try startWatch()
        #expect(eventually { third.output.contains("watching") }, "\(third.output)")
        #expect(third.stop() == 0)
    }

    @Test(arguments: NixVersion.tested)
    static func statusReportsTheManifest(nix version: NixVersion) throws {
        try Self(nix: version).statusReportsTheManifest()
    }

    func statusReportsTheManifest() throws {
        let watch = try startWatch()
        #expect(eventually { watch.output.contains("watching") })
        let path = try nix.build(shellDerivation(name: "counted", script: "echo counted > $out"))[0]
        #expect(eventually { isPublished(path) })
        watch.stop()
        let status = try Subprocess.checked(narsyncExecutable, ["status", "--json", "--state-dir", state, "--store-root", nix.storeRoot])
        let json = try JSONSerialization.jsonObject(with: Data(status.standardOutput.utf8)) as? [String: Any]
        let destinations = json?["destinations"] as? [[String: Any]]
        let entry = destinations?.first?["status"] as? [String: Any]
        #expect(entry?["published"] as? Int == 1, "\(status.standardOutput)")
        #expect(entry?["queued"] as? Int == 0)
        #expect(destinations?.first?["lag"] as? Int == 0)
        let text = try Subprocess.checked(narsyncExecutable, ["status", "--state-dir", state, "--store-root", nix.storeRoot])
        #expect(text.standardOutput.contains("published 1 paths"))
    }
}

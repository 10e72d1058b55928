import Foundation
import Testing
import TestSupport

/// Nix's post-build-hook running `narsync hook` while `narsync watch` runs, or does not. The
/// tests taking a `NixVersion` run against each Nix of `NixVersion.tested` (Nix 2.8 leaves
/// `OUT_PATHS` empty and the hook reads the derivation; later ones fill it).
@Suite struct HookServiceTests {
    let nix: NixEnvironment
    let state: String
    let socket: String
    let spool: String
    let cache: String

    init() throws { try self.init(nix: .v2_8) }

    init(nix version: NixVersion) throws {
        let directory = try TemporaryDirectory(prefix: "narsync-hooked")
        state = directory.appending("state")
        socket = directory.appending("hook.sock")
        spool = directory.appending("state/spool")
        cache = directory.appending("state/cache")
        let hook = directory.appending("post-build-hook")
        try "#!/bin/sh\nexec '\(narsyncExecutable)' hook --socket '\(socket)' --spool-dir '\(spool)'\n"
            .write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        nix = try NixEnvironment(nix: version, extraConfig: "post-build-hook = \(hook)", sharing: [directory.path])
        keep = directory
        // The store must exist before narsync can watch its database.
        try nix.createStore()
    }

    private let keep: TemporaryDirectory

    /// A watcher that only re-reads the database every hour: whatever it publishes within the
    /// test came through the hook.
    private func startWatch(_ extra: [String] = []) throws -> BackgroundProcess {
        try BackgroundProcess(narsyncExecutable, [
            "watch", "--store-root", nix.storeRoot, "--state-dir", state, "--hook-socket", socket,
            "--recheck-seconds", "3600",
        ] + extra, environment: nix.environment, logFile: nix.directory.appending("watch-\(UUID().uuidString).log"))
    }

    private func isPublished(_ storePath: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: storePath))")
    }

    private func spooled() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).filter { !$0.hasPrefix(".") && $0 != "rejected" }
    }

    @Test(arguments: NixVersion.tested)
    static func aBuildsOutputsArePublishedThroughTheHookWhileTheServiceRuns(nix version: NixVersion) throws {
        try Self(nix: version).aBuildsOutputsArePublishedThroughTheHookWhileTheServiceRuns()
    }

    func aBuildsOutputsArePublishedThroughTheHookWhileTheServiceRuns() throws {
        let watch = try startWatch()
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        let output = try nix.build(shellDerivation(name: "hooked-live", script: "echo \(UUID()) > $out"))[0]
        #expect(eventually { isPublished(output) }, "\(watch.output)")
        #expect(watch.output.contains("post-build hook") || watch.output.contains("published"), "\(watch.output)")
        #expect(spooled().isEmpty, "the service was up: nothing should be spooled")
        watch.stop()
        let copy = try nix.substitute([output], from: "file://\(cache)", into: nix.makeStoreRoot("fresh"),
                                      trustedKey: try String(contentsOfFile: "\(state)/signing-key.pub", encoding: .utf8))
        #expect(copy.status == 0, "\(copy.standardError)")
    }

    @Test func withTheServiceStoppedBuildsSucceedAndTheSpoolIsPublishedAtStart() throws {
        // First start records the watermark; then the service is down for two builds.
        let first = try startWatch()
        #expect(eventually { first.output.contains("watching") })
        first.stop()
        let outputs = try (1...2).map { try nix.build(shellDerivation(name: "hooked-offline-\($0)", script: "echo \(UUID()) > $out"))[0] }
        #expect(spooled().count == 2, "\(spooled())")
        #expect(!outputs.contains(where: isPublished))

        let second = try startWatch()
        for output in outputs { #expect(eventually { isPublished(output) }, "\(second.output)") }
        #expect(eventually { spooled().isEmpty }, "the spool must be emptied: \(spooled())")
        second.stop()
    }

    @Test func aSlowDestinationDoesNotSlowTheBuild() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        // Every request to the cache waits two seconds.
        let proxy = try FaultProxy(upstreamPort: moto.port) { _, _, _ in .delay(.seconds(2)) }
        defer { proxy.stop() }
        _ = try LoopbackHTTP.request(port: moto.port, method: "PUT", target: "/slow")
        try moto.allowAnonymousReads(bucket: "slow")
        var environment = nix.environment
        environment["AWS_ACCESS_KEY_ID"] = "test"
        environment["AWS_SECRET_ACCESS_KEY"] = "test"
        let watch = try BackgroundProcess(narsyncExecutable, [
            "watch", "--store-root", nix.storeRoot, "--state-dir", state, "--hook-socket", socket, "--recheck-seconds", "3600",
            "--to", "s3://slow?endpoint=127.0.0.1:\(proxy.port)&scheme=http&region=us-east-1",
        ], environment: environment, logFile: nix.directory.appending("watch-slow.log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")

        let started = ContinuousClock.now
        let output = try nix.build(shellDerivation(name: "hooked-slow", script: "echo \(UUID()) > $out"))[0]
        let buildTime = ContinuousClock.now - started
        let publishedAt = ContinuousClock.now
        #expect(eventually(timeout: .seconds(60)) {
            (try? LoopbackHTTP.request(port: moto.port, method: "HEAD", target: "/slow/\(narInfoName(of: output))").status) == 200
        }, "\(watch.output)")
        let publishTime = ContinuousClock.now - publishedAt + buildTime
        // The build returned long before its upload was done: the hook only handed it over.
        #expect(buildTime < publishTime, "build \(buildTime), published after \(publishTime)")
        #expect(publishTime >= .seconds(4), "each request to the cache takes 2 s")
        watch.stop()
    }
}

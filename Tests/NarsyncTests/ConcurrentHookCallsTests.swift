import Foundation
import Hook
import NixStore
import Testing
import TestSupport

/// Nix 2.35 runs post-build hooks asynchronously, as many at once as builds (`max-jobs`): 64
/// `narsync-hook` calls started together, each handing over one path, against a running
/// service and, with the service stopped, into the spool. None may be lost or delivered twice
/// (a call that gave up on the socket and spooled too), and the calls stay fast.
///
/// Timed with the release build of `narsync-hook` (`.build/release/narsync-hook`, what is
/// installed) when it has been built, the debug build otherwise; the test prints which. On
/// CI's 2 cores, 64 calls started together share the CPU, each call costing about 5 ms of it:
/// the median call waits for the others' CPU and takes about 64 x 5 / 2 / 2 ms, whatever
/// the hook does. So the bound is on what a call costs when they run together: the batch's
/// wall time divided by the calls. Measured on the shared 2-core machine with the release
/// build: 9.7 ms (spooling) and 14 ms (service running, while it publishes) per call, 5 ms for
/// one call alone (benchmarks/run --only hook). The test expects under 25 ms, which a
/// serialised hand-over (a call waiting for another's 200 ms socket timeout) breaks; the 10
/// ms target is reported, not enforced, on a machine shared with other work. The median and
/// the slowest are printed; a debug build is only recorded.
@Suite(.serialized) struct ConcurrentHookCallsTests {
    static let calls = 64
    let store = StoreDirectory.standard
    let nix: NixEnvironment
    var state: String { nix.directory.appending("state") }
    var socket: String { nix.directory.appending("hook.sock") }
    var spool: Spool { Spool(directory: nix.directory.appending("state/spool")) }

    init() throws {
        nix = try NixEnvironment()
        try nix.createStore()
    }

    /// The release build if there is one, else the debug build next to the tests.
    static var hookExecutable: (path: String, isRelease: Bool) {
        let debug = (narsyncExecutable as NSString).deletingLastPathComponent + "/narsync-hook"
        let release = URL(fileURLWithPath: debug).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("release/narsync-hook").path
        return FileManager.default.isExecutableFile(atPath: release) ? (release, true) : (debug, false)
    }

    /// Paths no build made: only the hook can queue them.
    private func unbuiltPaths() -> [String] {
        let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz")
        return (0..<Self.calls).map { index in
            "/nix/store/" + String((0..<32).map { _ in alphabet.randomElement()! }) + "-hooked-\(index)"
        }
    }

    struct Call: Sendable {
        var time: Duration
        var status: Int32?
    }

    /// Runs one hook call per path, all released at the same moment; returns their wall times.
    /// Spawned with posix_spawn, output to /dev/null: Foundation's Process, with its pipes and
    /// its lock around spawning, would time itself rather than the hook.
    private func callAtOnce(_ paths: [String]) throws -> (times: [Duration], batch: Duration) {
        let hook = Self.hookExecutable.path
        let gate = DispatchSemaphore(value: 0), done = DispatchGroup()
        let results = Recorder<Call>()
        for path in paths {
            var environment = ProcessInfo.processInfo.environment
            environment["OUT_PATHS"] = path
            environment["DRV_PATH"] = path + ".drv"
            environment["NARSYNC_HOOK_SOCKET"] = socket
            environment["NARSYNC_SPOOL_DIR"] = spool.directory
            let variables = environment.map { "\($0.key)=\($0.value)" }
            done.enter()
            Thread.detachNewThread {
                gate.wait()
                results.record(Self.spawnAndWait(hook, environment: variables))
                done.leave()
            }
        }
        let released = ContinuousClock.now
        for _ in paths { gate.signal() }
        done.wait()
        let batch = ContinuousClock.now - released
        let finished = results.recorded
        #expect(finished.count == paths.count && finished.allSatisfy { $0.status == 0 }, "\(finished.map(\.status))")
        return (finished.map(\.time), batch)
    }

    private static func spawnAndWait(_ executable: String, environment: [String]) -> Call {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = [strdup(executable)] + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let started = ContinuousClock.now
        var pid: pid_t = 0
        guard posix_spawn(&pid, executable, &actions, nil, argv, envp) == 0 else { return Call(time: .zero, status: nil) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return Call(time: ContinuousClock.now - started, status: status)
    }

    private func expectFast(_ calls: (times: [Duration], batch: Duration), _ label: String) {
        let median = calls.times.sorted()[calls.times.count / 2]
        let perCall = calls.batch / Self.calls
        let (path, isRelease) = Self.hookExecutable
        print("\(Self.calls) hook calls at once, \(label), \(isRelease ? "release" : "debug") build \(path): " +
              "\(perCall) per call (all done in \(calls.batch)), median \(median), slowest \(calls.times.max()!)")
        if isRelease { #expect(perCall < .milliseconds(25), "\(perCall) per call") }
    }

    /// Valid paths registered before the service's first start (which publishes only what
    /// comes later): only the hook makes it publish them.
    @Test func againstARunningServiceNoneIsLostOrDuplicated() throws {
        let files = (0..<Self.calls).map { nix.directory.appending("hooked-\($0)") }
        for file in files { try "hooked \(file) \(UUID())".write(toFile: file, atomically: true, encoding: .utf8) }
        let paths = try nix.run("nix-store", ["--store", nix.storeRoot, "--add"] + files).trimmedOutput.split(separator: "\n").map(String.init)
        #expect(Set(paths).count == Self.calls)
        let watch = try BackgroundProcess(narsyncExecutable, [
            "watch", "--store-root", nix.storeRoot, "--state-dir", state, "--hook-socket", socket, "--recheck-seconds", "3600",
        ], environment: nix.environment, logFile: nix.directory.appending("watch.log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        let times = try callAtOnce(paths)
        // All handed over the socket: none fell back to the spool (which would deliver it twice).
        #expect(try spool.pending().isEmpty)
        let cache = "\(state)/cache"
        #expect(eventually(timeout: .seconds(60)) { paths.allSatisfy { FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: $0))") } },
                "\(watch.output)")
        #expect(watch.stop() == 0)
        let status = try Subprocess.checked(narsyncExecutable, ["status", "--json", "--state-dir", state, "--store-root", nix.storeRoot])
        let json = try JSONSerialization.jsonObject(with: Data(status.standardOutput.utf8)) as? [String: Any]
        let entry = (json?["destinations"] as? [[String: Any]])?.first?["status"] as? [String: Any]
        #expect(entry?["published"] as? Int == Self.calls && entry?["queued"] as? Int == 0, "\(status.standardOutput)")
        let narInfos = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".narinfo") }
        #expect(narInfos.count == Self.calls)
        expectFast(times, "service running")
    }

    @Test func intoTheSpoolNoneIsLostOrDuplicated() throws {
        let paths = unbuiltPaths()
        let times = try callAtOnce(paths)
        let requests = try spool.pending()
        #expect(requests.count == Self.calls)
        let spooled = try requests.flatMap { try spool.read($0, storeDirectory: store).outputs.map(store.fullPath(of:)) }
        #expect(spooled.count == Self.calls)
        #expect(Set(spooled) == Set(paths))
        expectFast(times, "service stopped (spooling)")
    }
}

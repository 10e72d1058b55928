import Foundation
import Glibc
import SQLite
import SystemSupport
import Testing
@testable import Replication
import TestSupport

/// The watcher against a real Nix writing a real store database.
@Suite final class DatabaseWatcherTests {
    let nix: NixEnvironment
    let databaseDirectory: String
    let files: TemporaryDirectory
    /// Where the recorder's database reads run, as the service's would: off the cooperative pool.
    let reader = BlockingExecutor(threadCount: 1, name: "db-reader")
    /// Where Nix runs, so that waiting for it does not starve the consumers on the pool.
    let nixRunner = BlockingExecutor(threadCount: 1, name: "nix-runner")

    init() throws {
        nix = try NixEnvironment()
        files = try TemporaryDirectory(prefix: "narsync-files")
        databaseDirectory = nix.storeRoot + "/nix/var/nix/db"
        // The database exists once Nix has registered one path.
        _ = try nix.add(try file("first"))
    }

    deinit {
        reader.shutdown()
        nixRunner.shutdown()
    }

    /// A new file with unique contents, to add to the store.
    func file(_ name: String) throws -> String {
        let path = files.appending(name)
        try "\(name) \(UUID())\n".write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    /// Adds files to the store with one `nix-store --add`, off the cooperative pool.
    func add(_ paths: [String]) async throws {
        let nix = nix
        try await nixRunner.run { try nix.run("nix-store", ["--store", nix.storeRoot, "--add"] + paths) }
    }

    /// The newest `ValidPaths` id, read as the service reads it: a fresh read-only connection.
    static func newestID(in databaseDirectory: String) -> Int64? {
        guard let database = try? SQLiteDatabase(path: databaseDirectory + "/db.sqlite", mode: .readOnly) else { return nil }
        var newest: Int64?
        try? database.query("SELECT max(id) FROM ValidPaths") { newest = $0.optionalInt64(0) }
        return newest
    }

    /// Records each wake with the newest id a consumer's query saw on it.
    func record(_ watcher: DatabaseWatcher) -> StreamRecorder<WakeReason, Int64?> {
        let reader = reader, directory = databaseDirectory
        return StreamRecorder(watcher.wakes) { _ in await reader.run { Self.newestID(in: directory) } }
    }

    @Test func aNixCommitWakesWithinTwoSeconds() async throws {
        let watcher = try DatabaseWatcher(databaseDirectory: databaseDirectory)
        defer { watcher.stop() }
        let wakes = record(watcher)
        try await add([try file("second")])
        let newest = try #require(Self.newestID(in: databaseDirectory))
        #expect(await wakes.wait(upTo: .seconds(2)) { $0.contains { $0.record == newest } })
        #expect(wakes.elements.allSatisfy { $0 == .changed })
    }

    @Test func aBurstOfCommitsGivesFewWakesAndTheLastSeesThemAll() async throws {
        let watcher = try DatabaseWatcher(databaseDirectory: databaseDirectory)
        defer { watcher.stop() }
        let wakes = record(watcher)
        let burst = try (1...30).map { try file("burst-\($0)") }
        let before = try #require(Self.newestID(in: databaseDirectory))
        try await add(burst)
        let newest = try #require(Self.newestID(in: databaseDirectory))
        #expect(newest == before + 30)
        #expect(await wakes.wait(upTo: .seconds(3)) { $0.last?.record == newest })
        // Settled: nothing more comes once the last commit has been seen.
        try await Task.sleep(for: .milliseconds(500))
        let settled = wakes.recorded
        #expect(settled.last?.record == newest)
        // One process registering 30 paths in quick succession: merged into a wake or two.
        #expect(settled.count >= 1 && settled.count <= 3, "30 commits woke \(settled.count) times")
    }

    @Test func aLongStormOfCommitsStillWakesWhileItLasts() async throws {
        let watcher = try DatabaseWatcher(databaseDirectory: databaseDirectory)
        defer { watcher.stop() }
        let wakes = record(watcher)
        let storm = try (1...60).map { try file("storm-\($0)") }
        let before = try #require(Self.newestID(in: databaseDirectory))
        // One nix-store per path, back to back: commits keep coming for a few seconds.
        let script = "for f in \"$@\"; do nix-store --store \"$0\" --add \"$f\" >/dev/null || exit 1; done"
        let nix = nix
        try await nixRunner.run {
            try Subprocess.checked("/bin/sh", ["-c", script, nix.storeRoot] + storm, environment: nix.environment)
        }
        let stormEnd = ContinuousClock.now
        let newest = try #require(Self.newestID(in: databaseDirectory))
        #expect(newest == before + 60)
        #expect(await wakes.wait(upTo: .seconds(3)) { $0.last?.record == newest })
        // The 1 s cap flushed while commits were still coming, and the consumer saw part of them.
        let during = wakes.recorded.filter { $0.at < stormEnd }
        #expect(!during.isEmpty)
        #expect(during.contains { ($0.record ?? 0) > before && ($0.record ?? 0) < newest })
        // Debounced: far fewer wakes than commits.
        #expect(wakes.recorded.count <= 15, "60 commits woke \(wakes.recorded.count) times")
    }

    @Test func staysSilentWhileTheStoreIsIdle() async throws {
        let watcher = try DatabaseWatcher(databaseDirectory: databaseDirectory)
        defer { watcher.stop() }
        let wakes = record(watcher)
        try await Task.sleep(for: .seconds(1))
        #expect(wakes.recorded.isEmpty)

        // Nor does the consumer's own read (which creates the WAL and shm files) wake it again.
        try await add([try file("third")])
        #expect(await wakes.wait(upTo: .seconds(2)) { !$0.isEmpty })
        try await Task.sleep(for: .milliseconds(300))
        let afterCommit = wakes.recorded.count
        let directory = databaseDirectory
        for _ in 0..<5 { _ = await reader.run { Self.newestID(in: directory) } }
        try await Task.sleep(for: .seconds(1))
        #expect(wakes.recorded.count == afterCommit)
    }

    @Test func wakesPeriodicallyWithoutEvents() async throws {
        let timing = WatchTiming(recheckInterval: .milliseconds(200))
        let watcher = try DatabaseWatcher(databaseDirectory: databaseDirectory, timing: timing)
        defer { watcher.stop() }
        let start = ContinuousClock.now
        let wakes = StreamRecorder(watcher.wakes)
        #expect(await wakes.wait(upTo: .seconds(10)) { $0.count >= 3 })
        #expect(wakes.elements.allSatisfy { $0 == .periodic })
        // Never sooner than the interval (a late consumer can only make them later).
        #expect(wakes.recorded[2].at - start >= .milliseconds(600))
        let inFirstSecond = wakes.recorded.filter { $0.at - start <= .seconds(1) }.count
        #expect(inFirstSecond <= 5, "\(inFirstSecond) wakes in the first second")
    }

    @Test func stopFinishesTheWakes() async throws {
        let watcher = try DatabaseWatcher(databaseDirectory: databaseDirectory)
        let wakes = StreamRecorder(watcher.wakes)
        watcher.stop()
        watcher.stop()
        #expect(await wakes.wait(upTo: .seconds(2)) { _ in wakes.isFinished })
        #expect(wakes.recorded.isEmpty)
    }

    @Test func watchingAMissingDirectoryFailsNamingIt() {
        let missing = nix.storeRoot + "/no/such/db"
        #expect { try DatabaseWatcher(databaseDirectory: missing) } throws: { error in
            "\(error)".contains(missing) && "\(error)".contains("No such file")
        }
    }

    // MARK: Which events count

    @Test func onlyWritesToTheDatabaseAndItsWALCount() {
        func reason(_ name: String, _ mask: Int32) -> WakeReason? {
            DatabaseWatcher.wakeReason(for: InotifyEvent(mask: UInt32(bitPattern: mask), name: name))
        }
        #expect(reason("db.sqlite-wal", IN_MODIFY) == .changed)
        #expect(reason("db.sqlite", IN_MODIFY) == .changed)
        #expect(reason("db.sqlite", IN_MOVED_TO) == .changed)
        #expect(reason("db.sqlite", IN_CREATE) == .changed)
        // Made by readers as much as by writers.
        #expect(reason("db.sqlite-wal", IN_CREATE) == nil)
        #expect(reason("db.sqlite-wal", IN_CLOSE_WRITE) == nil)
        #expect(reason("db.sqlite-shm", IN_MODIFY) == nil)
        #expect(reason("big-lock", IN_MODIFY) == nil)
        #expect(reason("", IN_Q_OVERFLOW) == .overflow)
        #expect(reason("", IN_IGNORED) == .overflow)
    }

    @Test func parsesPackedInotifyEvents() {
        var bytes: [UInt8] = []
        func append(mask: UInt32, name: String, paddedTo length: Int) {
            for field in [UInt32(1), mask, 0, UInt32(length)] { withUnsafeBytes(of: field.littleEndian) { bytes += $0 } }
            bytes += Array(name.utf8) + Array(repeating: 0, count: length - name.utf8.count)
        }
        append(mask: 2, name: "db.sqlite-wal", paddedTo: 16)
        append(mask: 0x4000, name: "", paddedTo: 0)
        append(mask: 0x100, name: "db.sqlite", paddedTo: 32)
        let events = bytes.withUnsafeBytes { InotifyWatch.parse($0) }
        #expect(events == [InotifyEvent(mask: 2, name: "db.sqlite-wal"), InotifyEvent(mask: 0x4000, name: ""),
                           InotifyEvent(mask: 0x100, name: "db.sqlite")])
    }
}

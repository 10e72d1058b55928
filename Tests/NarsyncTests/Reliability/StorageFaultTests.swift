import Foundation
import Testing
import TestSupport

/// The storage-faults campaign (RELIABILITY.md): `narsync watch` on a real Nix while its disks
/// misbehave: the cache's disk fills up, the state directory turns read-only, a writer locks
/// the Nix database. Each fault must be logged naming what failed, never crash the service or
/// leave a half-written object in the cache, and be recovered from once it is gone.
/// Faults are real mounts (tmpfs, read-only binds), so the suite needs root, as CI has.
@Suite(.serialized, .enabled(if: ScratchMount.isPermitted, "needs root and permission to mount a tmpfs (CI runs as root)"))
struct StorageFaultTests {
    let nix: NixEnvironment
    let state: String

    init() throws {
        nix = try NixEnvironment()
        // The store must exist before narsync can watch its database.
        try nix.createStore()
        state = nix.directory.appending("state")
    }

    // MARK: - Harness

    private func watchArguments(_ extra: [String]) -> [String] {
        ["watch", "--store-root", nix.storeRoot, "--state-dir", state, "--hook-socket", "none",
         "--recheck-seconds", "1", "--retry-initial-seconds", "0.5"] + extra
    }

    private func startWatch(_ extra: [String] = []) throws -> BackgroundProcess {
        let watch = try BackgroundProcess(narsyncExecutable, watchArguments(extra), environment: nix.environment,
                                          logFile: nix.directory.appending("watch-\(UUID().uuidString).log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        return watch
    }

    private func isPublished(_ storePath: String, in cache: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: storePath))")
    }

    private func lines(of watch: BackgroundProcess, containing text: String) -> [Substring] {
        watch.output.split(separator: "\n").filter { $0.contains(text) }
    }

    /// The names in the cache's `nar/` directory that are not the NAR of a narinfo, or whose
    /// size is not the narinfo's `FileSize`: half-written objects under their final names,
    /// temporaries left behind.
    private func strayNarFiles(in cache: String) throws -> [String] {
        var expected: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: cache) where name.hasSuffix(".narinfo") {
            let fields = try String(contentsOfFile: "\(cache)/\(name)", encoding: .utf8).split(separator: "\n")
            let url = fields.first { $0.hasPrefix("URL: ") }.map { String($0.dropFirst(5)) } ?? ""
            expected[url] = fields.first { $0.hasPrefix("FileSize: ") }.flatMap { Int($0.dropFirst(10)) } ?? -1
        }
        return try FileManager.default.contentsOfDirectory(atPath: "\(cache)/nar").filter { name in
            let size = (try? FileManager.default.attributesOfItem(atPath: "\(cache)/nar/\(name)")[.size] as? Int) ?? nil
            return expected["nar/\(name)"] == nil || expected["nar/\(name)"] != size
        }
    }

    private func status() throws -> [String: Any] {
        let result = try Subprocess.checked(narsyncExecutable, ["status", "--json", "--state-dir", state, "--store-root", nix.storeRoot])
        let json = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        return ((json?["destinations"] as? [[String: Any]])?.first?["status"] as? [String: Any]) ?? [:]
    }

    // MARK: - Tests

    @Test func aFullCacheDiskFailsThePathNamingTheFileLeavesNothingHalfWrittenAndRecovers() throws {
        let cache = nix.directory.appending("cache-disk")
        let disk = try ScratchMount(tmpfsAt: cache, size: "4m")
        defer { disk.unmount() }
        let key = try nix.generateKey(name: "full-1")
        let watch = try startWatch(["--to", "file://\(cache)", "--key-file", key.secretKeyFile])
        let small = try nix.addUniqueFile(named: "fits")
        #expect(eventually { isPublished(small, in: cache) }, "\(watch.output)")
        let large = try nix.addRandomFile(mebibytes: 6)

        // Failed, then failed again on retry, each time naming the path, the file and ENOSPC.
        #expect(eventually(timeout: .seconds(30)) { lines(of: watch, containing: "No space left on device").count >= 2 }, "\(watch.output)")
        let failure = lines(of: watch, containing: "No space left on device").first ?? ""
        #expect(failure.contains(large) && failure.contains("\(cache)/nar/"), "\(failure)")
        #expect(watch.process.isRunning)
        #expect(!isPublished(large, in: cache))
        // What failed left nothing: no NAR under its final name, no temporary.
        #expect(eventually { (try? strayNarFiles(in: cache))?.isEmpty == true }, "\((try? strayNarFiles(in: cache)) ?? [])")
        let waiting = try status()
        #expect(waiting["queued"] as? Int == 1 && waiting["retrying"] as? Int == 1, "\(waiting)")

        try disk.remount("size=64m")
        #expect(eventually(timeout: .seconds(40)) { isPublished(large, in: cache) }, "\(watch.output)")
        #expect(watch.stop() == 0)
        #expect(try strayNarFiles(in: cache).isEmpty)
        let fresh = nix.makeStoreRoot("fresh")
        let copy = try nix.substitute([large, small], from: "file://\(cache)", into: fresh, trustedKey: key.publicKey)
        #expect(copy.status == 0, "\(copy.standardError)")
    }

    @Test func aReadOnlyStateDirectoryStopsTheStartWithOneLineAndTheNextStartWorks() throws {
        let disk = try ScratchMount(tmpfsAt: state, size: "16m")
        defer { disk.unmount() }
        try disk.remount("ro")
        let cache = nix.directory.appending("cache")
        let refused = try Subprocess.run(narsyncExecutable, watchArguments(["--to", "file://\(cache)"]), environment: nix.environment)
        #expect(refused.status != 0)
        let errors = refused.standardError.split(separator: "\n")
        #expect(errors.count == 1, "\(refused.standardError)")
        #expect(errors.first?.contains("cannot write the state directory \(state) (Read-only file system)") == true, "\(refused.standardError)")

        try disk.remount("rw")
        let watch = try startWatch(["--to", "file://\(cache)"])
        let path = try nix.addUniqueFile(named: "after-remount")
        #expect(eventually { isPublished(path, in: cache) }, "\(watch.output)")
        #expect(watch.stop() == 0)
    }

    /// A read-only bind mount over the state directory while the service runs: files it opens
    /// from then on (the default cache's objects, in the state directory) cannot be written;
    /// the manifest, open since the start, still can (the kernel refuses to remount a
    /// filesystem read-only under open writers, so this is what "turning read-only" can mean).
    @Test func aStateDirectoryTurningReadOnlyIsLoggedRetriedAndRecoveredFrom() throws {
        let watch = try startWatch()
        let cache = "\(state)/cache"
        let before = try nix.addUniqueFile(named: "before-read-only")
        #expect(eventually { isPublished(before, in: cache) }, "\(watch.output)")
        let readOnly = try ScratchMount(readOnlyBindOf: state)
        defer { readOnly.unmount() }
        let path = try nix.addUniqueFile(named: "while-read-only")
        #expect(eventually(timeout: .seconds(30)) { lines(of: watch, containing: "Read-only file system").count >= 2 }, "\(watch.output)")
        let failure = lines(of: watch, containing: "Read-only file system").first ?? ""
        #expect(failure.contains(path) && failure.contains(cache), "\(failure)")
        #expect(watch.process.isRunning)

        readOnly.unmount()
        #expect(eventually(timeout: .seconds(40)) { isPublished(path, in: cache) }, "\(watch.output)")
        #expect(watch.stop() == 0)
        let recovered = try status()
        #expect(recovered["queued"] as? Int == 0 && recovered["published"] as? Int == 2, "\(recovered)")
    }

    /// In WAL mode (Nix's default) no writer blocks a reader: a transaction does not, and a
    /// connection cannot even take `locking_mode=EXCLUSIVE` while narsync's reader is open.
    /// With `use-sqlite-wal = false` (a rollback journal, for file systems without shared
    /// memory) a writer's exclusive lock does. narsync's reads then fail busy after
    /// `--database-busy-seconds`, are logged naming the database, and are tried again at each
    /// re-check until the lock goes.
    @Test func aLockedNixDatabaseIsLoggedNamingItRetriedAndRecoveredFrom() throws {
        let nix = try NixEnvironment(extraConfig: "use-sqlite-wal = false")
        try nix.createStore()
        let cache = nix.directory.appending("cache")
        let database = nix.storeRoot + "/nix/var/nix/db/db.sqlite"
        func arguments(state: String) -> [String] {
            ["watch", "--store-root", nix.storeRoot, "--state-dir", state, "--hook-socket", "none", "--recheck-seconds", "1",
             "--to", "file://\(cache)", "--database-busy-seconds", "0.5"]
        }
        let watch = try BackgroundProcess(narsyncExecutable, arguments(state: nix.directory.appending("state")),
                                          environment: nix.environment, logFile: nix.directory.appending("watch.log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        let lock = try DatabaseLock(database)
        defer { lock.release() }
        #expect(eventually(timeout: .seconds(30)) { lines(of: watch, containing: "database is locked").count >= 2 }, "\(watch.output)")
        let failure = lines(of: watch, containing: "database is locked").first ?? ""
        #expect(failure.contains(database), "\(failure)")
        #expect(watch.process.isRunning)

        // A start while it is locked fails with the reason; systemd's restart tries again.
        let blocked = try Subprocess.run(narsyncExecutable, arguments(state: nix.directory.appending("state-2")), environment: nix.environment)
        #expect(blocked.status != 0)
        #expect(blocked.standardError.contains(database) && blocked.standardError.contains("lock"), "\(blocked.standardError)")

        lock.release()
        let path = try nix.addUniqueFile(named: "after-the-lock")
        #expect(eventually(timeout: .seconds(30)) { isPublished(path, in: cache) }, "\(watch.output)")
        #expect(watch.stop() == 0)
    }
}

/// A `sqlite3` shell holding an exclusive lock on a database in rollback-journal mode until
/// released: readers get SQLITE_BUSY meanwhile.
private final class DatabaseLock: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private var released = false

    init(_ database: String) throws {
        process.executableURL = URL(fileURLWithPath: try Subprocess.which("sqlite3"))
        process.arguments = [database]
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The lock is taken at BEGIN EXCLUSIVE (waiting out readers) and held until the shell ends.
        try input.fileHandleForWriting.write(contentsOf: Data(".timeout 10000\nBEGIN EXCLUSIVE;\n".utf8))
        let locked = eventually(timeout: .seconds(10)) {
            let probe = try? Subprocess.run("sqlite3", ["-readonly", database, "SELECT count(*) FROM ValidPaths"])
            return probe?.standardError.contains("locked") == true
        }
        guard locked else {
            release()
            throw TestFailure("sqlite3 did not lock \(database)")
        }
    }

    deinit { release() }

    /// Ends the shell, which releases the lock; safe to call twice.
    func release() {
        guard !released else { return }
        released = true
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

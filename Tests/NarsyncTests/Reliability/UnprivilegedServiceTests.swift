import Foundation
import Testing
import TestSupport

/// `narsync watch` as a user of its own (uid 65534 here), with no write access anywhere under
/// the store root, against a store root's Nix adds to: Nix's database read without creating
/// anything beside it (`ReadOnlyDatabaseAccess`), whether a Nix process has it open or not;
/// the service's state directory, cache and hook socket its own.
@Suite(.serialized, .enabled(if: getuid() == 0 && (try? Subprocess.which("setpriv")) != nil, "needs root to run narsync as another user"))
struct UnprivilegedServiceTests {
    static let serviceUser: uid_t = 65534

    let nix: NixEnvironment
    /// The service's own directory: state, cache and hook socket, owned by the service user.
    let serviceDirectory: String
    var state: String { "\(serviceDirectory)/state" }
    var cache: String { "\(serviceDirectory)/state/cache" }
    var socket: String { "\(serviceDirectory)/run/hook.sock" }

    init() throws { try self.init(nix: .v2_8) }

    init(nix version: NixVersion) throws {
        nix = try NixEnvironment(nix: version)
        try nix.createStore()
        // Reachable by the service user; the store under it stays root's, as Nix made it.
        chmod(nix.directory.path, 0o755)
        serviceDirectory = nix.directory.appending("service")
        for directory in [serviceDirectory, "\(serviceDirectory)/run"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            chown(directory, Self.serviceUser, gid_t(Self.serviceUser))
        }
    }

    private var databaseDirectory: String { "\(nix.storeRoot)/nix/var/nix/db" }

    private func startWatch() throws -> BackgroundProcess {
        let watch = try BackgroundProcess(try Subprocess.which("setpriv"), [
            "--reuid=\(Self.serviceUser)", "--regid=\(Self.serviceUser)", "--clear-groups",
            narsyncExecutable, "watch", "--store-root", nix.storeRoot, "--state-dir", state,
            "--hook-socket", socket, "--recheck-seconds", "3600",
        ], environment: nix.environment, logFile: nix.directory.appending("watch-\(UUID().uuidString).log"))
        #expect(eventually(timeout: .seconds(30)) { watch.output.contains("watching") }, "\(watch.output)")
        return watch
    }

    private func isPublished(_ storePath: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: storePath))")
    }

    /// What is in Nix's database directory and who owns it.
    private func databaseFiles() throws -> [String: uid_t] {
        var files: [String: uid_t] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: databaseDirectory) {
            var info = stat()
            if stat("\(databaseDirectory)/\(name)", &info) == 0 { files[name] = info.st_uid }
        }
        return files
    }

    /// No Nix process holds the database: Nix 2.8 deleted `-wal` and `-shm` when it closed it,
    /// and the service user may not create them. The service starts, publishes each path root's
    /// Nix adds within seconds (it watches with inotify; re-reads are an hour apart), and never
    /// creates a file beside the database.
    @Test func withNoNixProcessHoldingTheDatabaseWatchPublishesWhatRootsNixAdds() throws {
        #expect(try databaseFiles()["db.sqlite-wal"] == nil, "the precondition: no WAL left by Nix")
        let watch = try startWatch()
        for round in 1...3 {
            let path = try nix.addUniqueFile(named: "added-\(round)")
            #expect(eventually(timeout: .seconds(10)) { isPublished(path) }, "\(watch.output)")
        }
        let built = try nix.build(shellDerivation(name: "built-by-root", script: "echo \(UUID()) > $out"))[0]
        #expect(eventually(timeout: .seconds(10)) { isPublished(built) }, "\(watch.output)")
        #expect(watch.process.isRunning)
        #expect(watch.stop() == 0, "\(watch.output)")
        #expect(!watch.output.contains("readonly database"), "\(watch.output)")
        #expect(try databaseFiles().values.allSatisfy { $0 == 0 }, "nothing of the service user's beside the database")
    }

    /// A build holds the database open (Nix keeps `-wal` and `-shm` while it runs): the service
    /// starts during it, publishes what Nix adds meanwhile and the build's output when it
    /// ends, and goes on once the build's Nix has exited. With each Nix of `NixVersion.tested`.
    @Test(arguments: NixVersion.tested)
    static func withANixProcessHoldingTheDatabaseWatchPublishesWhatRootsNixAdds(nix version: NixVersion) throws {
        try Self(nix: version).withANixProcessHoldingTheDatabaseWatchPublishesWhatRootsNixAdds()
    }

    func withANixProcessHoldingTheDatabaseWatchPublishesWhatRootsNixAdds() throws {
        // The build holds the database open for the seconds it sleeps.
        let expression = nix.directory.appending("slow.nix")
        try shellDerivation(name: "slow", script: "sleep 6; echo \(UUID()) > $out").write(toFile: expression, atomically: true, encoding: .utf8)
        let build = try nix.start("nix-build", ["--store", nix.storeRoot, "--option", "sandbox-paths", "/bin /usr /lib /lib64",
                                                "--no-out-link", expression], logFile: nix.directory.appending("slow-build.log"))
        #expect(eventually(timeout: .seconds(30)) { (try? databaseFiles()["db.sqlite-wal"]) != nil }, "\(build.output)")
        let watch = try startWatch()
        let during = try nix.addUniqueFile(named: "during-build")
        #expect(eventually(timeout: .seconds(10)) { isPublished(during) }, "\(watch.output)")
        #expect(build.process.isRunning, "the build ended too soon to hold the database during the test")
        #expect(build.stop(0) == 0, "\(build.output)")
        let output = build.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(output.hasPrefix("/nix/store/"), "\(build.output)")
        #expect(eventually(timeout: .seconds(10)) { isPublished(output) }, "\(watch.output)")
        let after = try nix.addUniqueFile(named: "after-build")
        #expect(eventually(timeout: .seconds(10)) { isPublished(after) }, "\(watch.output)")
        #expect(watch.stop() == 0, "\(watch.output)")
    }

    /// Root's post-build hook reaches the service through its socket, in a directory the
    /// service user owns (the unit's RuntimeDirectory): the path is queued and published.
    @Test func theHookReachesTheServiceThroughASocketInItsOwnDirectory() throws {
        let watch = try startWatch()
        #expect(eventually { FileManager.default.fileExists(atPath: socket) }, "\(watch.output)")
        var info = stat()
        #expect(stat(socket, &info) == 0 && info.st_uid == Self.serviceUser)
        let path = try nix.addUniqueFile(named: "hooked")
        let hook = try Subprocess.run(narsyncExecutable, ["hook", "--socket", socket, "--spool-dir", nix.directory.appending("spool"), path])
        #expect(hook.standardError.contains("queued 1 path"), "\(hook.standardError)")
        #expect(eventually(timeout: .seconds(10)) { isPublished(path) }, "\(watch.output)")
        #expect(watch.output.contains("post-build hook") || watch.output.contains(path), "\(watch.output)")
        #expect(watch.stop() == 0, "\(watch.output)")
    }
}

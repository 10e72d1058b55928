import Foundation
import Testing
import TestSupport

/// The service as packaging/systemd/narsync.service runs it, without systemd: its own user
/// (DynamicUser=), a member of the hook socket's group (SupplementaryGroups=, the environment's
/// NARSYNC_HOOK_TRUST_GROUP), owning only its state directory and the socket's directory
/// (StateDirectory=, RuntimeDirectory= mode 0755). The socket is then 0660 and the group's: a
/// member hands paths over, another user cannot even connect, one who only holds the group in
/// its process is refused by its credentials (SO_PEERCRED), root always can.
///
/// The Nix database directory is given to the service's user here, so that this test does not
/// depend on how narsync reads a database it cannot write (its own tests cover that).
@Suite(.enabled(if: getuid() == 0 && (try? Subprocess.which("setpriv")) != nil, "needs root and setpriv to run as other users"))
struct ServiceWithoutRootTests {
    static let serviceUser: uid_t = 65534
    static let socketGroup: gid_t = 4243
    static let otherUser: uid_t = 65533

    @Test func theHookSocketBelongsToItsGroupWhoseMembersHandPathsOver() throws {
        let nix = try NixEnvironment()
        try nix.createStore()
        let run = nix.directory.appending("run/narsync"), state = nix.directory.appending("state"), cache = nix.directory.appending("cache-dir")
        for directory in [run, state, cache] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        chmod(nix.directory.path, 0o755)
        chmod(nix.directory.appending("run"), 0o755)
        chmod(run, 0o755)
        chmod(state, 0o700)
        for owned in [run, state, cache] { chown(owned, Self.serviceUser, Self.serviceUser) }
        try Subprocess.checked("chown", ["-R", "\(Self.serviceUser)", "\(nix.storeRoot)/nix/var/nix/db"])

        var environment = nix.environment
        environment["NARSYNC_HOOK_TRUST_GROUP"] = "\(Self.socketGroup)"
        let socket = "\(run)/hook.sock"
        let watch = try BackgroundProcess(try Subprocess.which("setpriv"), [
            "--reuid=\(Self.serviceUser)", "--regid=\(Self.serviceUser)", "--groups=\(Self.socketGroup)",
            narsyncExecutable, "watch", "--to", "file://\(cache)", "--store-root", nix.storeRoot, "--state-dir", state,
            "--hook-socket", socket,
        ], environment: environment, logFile: nix.directory.appending("watch.log"))
        defer { watch.stop() }
        #expect(eventually(timeout: .seconds(30)) { watch.output.contains("watching") && FileManager.default.fileExists(atPath: socket) },
                "\(watch.output)")

        // Running as its own user, not root.
        let processStatus = try String(contentsOfFile: "/proc/\(watch.process.processIdentifier)/status", encoding: .utf8)
        #expect(processStatus.split(separator: "\n").contains { $0.hasPrefix("Uid:\t\(Self.serviceUser)\t") }, "\(processStatus)")
        var info = stat()
        #expect(stat(socket, &info) == 0)
        #expect(info.st_uid == Self.serviceUser && info.st_gid == Self.socketGroup && info.st_mode & 0o777 == 0o660,
                "owner \(info.st_uid), group \(info.st_gid), mode \(String(info.st_mode & 0o777, radix: 8))")

        let hook = { (uid: uid_t, gid: gid_t, name: String, groups: String?) throws -> String in
            try Subprocess.run("setpriv", [
                "--reuid=\(uid)", "--regid=\(gid)", groups.map { "--groups=\($0)" } ?? "--clear-groups", narsyncExecutable, "hook",
                "--socket", socket, "--spool-dir", "\(state)/spool", Self.unbuiltPath(name),
            ]).standardError
        }
        // A member of the socket's group (here by its login group).
        let member = try hook(Self.otherUser, Self.socketGroup, "from-member", nil)
        #expect(member.contains("queued 1 path"), "\(member)")
        // A process holding the group only as a supplementary group of its own passes the
        // socket's mode, but is not a member by the group database: SO_PEERCRED turns it away.
        let impostor = try hook(Self.otherUser, Self.otherUser, "from-impostor", "\(Self.socketGroup)")
        #expect(impostor.contains("not trusted"), "\(impostor)")
        // Anyone else is kept out by the socket's mode, and by the spool's.
        let outsider = try hook(Self.otherUser, Self.otherUser, "from-outsider", nil)
        #expect(outsider.contains("cannot reach the narsync service at \(socket): Permission denied"), "\(outsider)")
        // Root, which runs Nix's post-build-hook.
        let root = try Subprocess.run(narsyncExecutable, ["hook", "--socket", socket, Self.unbuiltPath("from-root")]).standardError
        #expect(root.contains("queued 1 path"), "\(root)")

        // What reached the service: the paths of the member and of root, which it then drops, as
        // they are not in the store; nothing of the outsider's.
        let dropped = { () -> [String] in
            let report = try? Subprocess.checked(narsyncExecutable, ["status", "--json", "--state-dir", state, "--store-root", nix.storeRoot])
            let json = report.flatMap { try? JSONSerialization.jsonObject(with: Data($0.standardOutput.utf8)) as? [String: Any] }
            let status = (json?["destinations"] as? [[String: Any]])?.first?["status"] as? [String: Any]
            return ((status?["recentDrops"] as? [[String: Any]]) ?? []).compactMap { $0["path"] as? String }
        }
        #expect(eventually { dropped().count == 2 }, "\(dropped())")
        #expect(Set(dropped().map { $0.split(separator: "-").dropFirst().joined(separator: "-") }) == ["from-member", "from-root"])
        #expect(watch.stop() == 0, "\(watch.output)")
    }

    /// A store path that is not valid: the hook hands it over all the same, and the service drops it.
    static func unbuiltPath(_ name: String) -> String {
        let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz")
        return "/nix/store/" + String((0..<32).map { _ in alphabet.randomElement()! }) + "-" + name
    }
}

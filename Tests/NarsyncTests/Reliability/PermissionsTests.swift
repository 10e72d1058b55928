import Foundation
import Testing
import TestSupport

/// The permissions campaign (RELIABILITY.md): the hook socket serves only trusted users,
/// files holding secrets that others may read are refused by every command that reads them,
/// and the service writes nowhere but its state directory and its destination, checked on
/// every file system call it makes, traced with strace.
@Suite(.serialized) struct PermissionsTests {
    let nix: NixEnvironment
    let state: String
    let cache: String

    init() throws {
        nix = try NixEnvironment()
        try nix.createStore()
        state = nix.directory.appending("state")
        cache = nix.directory.appending("cache")
    }

    /// Starts `narsync watch`, under `tracer` (a command line that runs the one after it) if given.
    private func startWatch(_ extra: [String], tracer: [String] = []) throws -> BackgroundProcess {
        let command = tracer + [narsyncExecutable, "watch", "--to", "file://\(cache)", "--store-root", nix.storeRoot,
                                "--state-dir", state, "--recheck-seconds", "1"] + extra
        let watch = try BackgroundProcess(command[0], Array(command.dropFirst()), environment: tracer.isEmpty ? nix.environment : tracedEnvironment,
                                          logFile: nix.directory.appending("watch-\(UUID().uuidString).log"))
        #expect(eventually(timeout: .seconds(30)) { watch.output.contains("watching") }, "\(watch.output)")
        return watch
    }

    /// LeakSanitizer cannot run under ptrace: a traced narsync of reliability/sanitizers would
    /// end in its fatal error (written to a log file the trace then shows) instead of a report.
    private var tracedEnvironment: [String: String] {
        var environment = nix.environment
        if let options = environment["ASAN_OPTIONS"] { environment["ASAN_OPTIONS"] = options + ":detect_leaks=0" }
        return environment
    }

    private func status() throws -> [String: Any] {
        let result = try Subprocess.checked(narsyncExecutable, ["status", "--json", "--state-dir", state, "--store-root", nix.storeRoot])
        let json = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        return ((json?["destinations"] as? [[String: Any]])?.first?["status"] as? [String: Any]) ?? [:]
    }

    // MARK: - The hook socket

    /// The library's server refuses untrusted peers (HookServerTests); here the whole service
    /// does: `nobody`, let through the socket's file permissions by a supplementary group that
    /// the service trusts only for its members, is refused by its credentials (SO_PEERCRED),
    /// queues nothing and cannot write the root-only spool either; root is served.
    @Test(.enabled(if: getuid() == 0, "needs root to run the hook as another user"))
    func theServiceRefusesHookRequestsFromAnUntrustedUser() throws {
        let socket = nix.directory.appending("hook.sock")
        let socketGroup = "4242"
        let watch = try startWatch(["--hook-socket", socket, "--hook-trust-group", socketGroup])
        // Paths the hook names need not be valid yet; these never are, so only the hook queues them.
        func unbuilt(_ name: String) -> String {
            let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz")
            return "/nix/store/" + String((0..<32).map { _ in alphabet.randomElement()! }) + "-" + name
        }
        let built = unbuilt("from-nobody")
        // The socket's directory must be reachable by nobody.
        chmod(nix.directory.path, 0o755)
        let refused = try Subprocess.run("setpriv", [
            "--reuid=65534", "--regid=65534", "--groups=\(socketGroup)", narsyncExecutable, "hook",
            "--socket", socket, "--spool-dir", "\(state)/spool", built,
        ])
        #expect(refused.status == 0)
        #expect(refused.standardError.contains("not trusted"), "\(refused.standardError)")
        #expect(watch.output.contains("not trusted") || watch.output.contains("refused"), "\(watch.output)")
        #expect(try status()["queued"] as? Int == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(state)/spool").filter { $0.hasSuffix(".request") }.isEmpty)

        let accepted = try Subprocess.run(narsyncExecutable, ["hook", "--socket", socket, unbuilt("from-root")])
        #expect(accepted.standardError.contains("queued 1 path"), "\(accepted.standardError)")
        #expect(watch.stop() == 0)
    }

    // MARK: - Files holding secrets

    /// Every command that reads a signing key or credential file refuses one that group or
    /// others may read, naming it, with exit status 2 and nothing published.
    @Test(arguments: ["key-file", "credentials-file", "bearer-token-file", "netrc-file"])
    func everyCommandRefusesASecretFileOthersCanRead(option: String) throws {
        let key = try nix.generateKey(name: "loose-1")
        let loose = nix.directory.appending("loose-\(option)")
        try (option == "key-file" ? String(contentsOfFile: key.secretKeyFile, encoding: .utf8) : "secret-\(UUID())\n")
            .write(toFile: loose, atomically: true, encoding: .utf8)
        chmod(loose, 0o640)
        let url = switch option {
        case "credentials-file": "s3://bucket?endpoint=127.0.0.1:1&scheme=http&region=us-east-1"
        case "bearer-token-file", "netrc-file": "http://127.0.0.1:1/cache"
        default: "file://\(cache)"
        }
        let keyArguments = option == "key-file" ? [] : ["--key-file", key.secretKeyFile]
        let path = try nix.add(nix.directory.appending("conf/nix.conf"))
        let config = nix.directory.appending("config.toml")
        try """
            [[destination]]
            url = "\(url)"
            \(option == "key-file" ? "key-files = [\"\(loose)\"]" : "key-files = [\"\(key.secretKeyFile)\"]\n\(option) = \"\(loose)\"")

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let commands: [(String, [String])] = [
            ("backfill", ["backfill", "--to", url, "--\(option)", loose, "--store-root", nix.storeRoot] + keyArguments + [path]),
            ("watch", ["watch", "--to", url, "--\(option)", loose, "--store-root", nix.storeRoot, "--state-dir", state,
                       "--hook-socket", "none"] + keyArguments),
            ("config check", ["config", "check", "--config", config]),
        ]
        for (name, arguments) in commands {
            let result = try Subprocess.run(narsyncExecutable, arguments, environment: nix.environment)
            #expect(result.status == 2, "\(name): \(result.standardError)")
            #expect(result.standardError.contains(loose), "\(name): \(result.standardError)")
            #expect(result.standardError.contains("too open") || result.standardError.contains("group or others may read it"),
                    "\(name): \(result.standardError)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: path))"))
    }

    // MARK: - Where narsync writes

    /// Every file system call of narsync that can change something (open for writing, create,
    /// rename, link, unlink, mkdir, chmod, bind...), for backfill, watch with its hook socket and
    /// the hook with the service down (spooling): all inside the state directory or the cache.
    @Test(.enabled(if: (try? Subprocess.which("strace")) != nil, "needs strace (scripts/install-dependencies --with-test-tools)"))
    func narsyncWritesOnlyInItsStateDirectoryAndItsDestination() throws {
        let traces = try TemporaryDirectory(prefix: "narsync-strace")
        let strace = try Subprocess.which("strace")
        func traced(_ name: String) -> [String] {
            [strace, "-f", "-qq", "-y", "-s", "4096", "-o", traces.appending(name), "-e", "trace=" + WriteTrace.syscalls.joined(separator: ",")]
        }
        let key = try nix.generateKey(name: "traced-1")
        // backfill's metrics file is an output the user names: here, in the state directory.
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let socket = "\(state)/hook.sock"
        let closure = try TestClosure.build(in: nix)

        let backfill = try Subprocess.run(strace, Array(traced("backfill").dropFirst()) + [
            narsyncExecutable, "backfill", "--to", "file://\(cache)", "--key-file", key.secretKeyFile,
            "--store-root", nix.storeRoot, "--metrics-file", "\(state)/backfill.prom", closure.top,
        ], environment: tracedEnvironment)
        #expect(backfill.status == 0, "\(backfill.standardError)")

        let watch = try startWatch(["--key-file", key.secretKeyFile, "--hook-socket", socket], tracer: traced("watch"))
        let built = try nix.build(shellDerivation(name: "traced", script: "echo \(UUID()) > $out"))[0]
        #expect(eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: built))") }, "\(watch.output)")
        let hooked = try nix.build(shellDerivation(name: "hooked", script: "echo \(UUID()) > $out"))[0]
        let hook = try Subprocess.run(narsyncExecutable, ["hook", "--socket", socket, hooked], environment: nix.environment)
        #expect(hook.standardError.contains("queued"), "\(hook.standardError)")
        #expect(eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: hooked))") }, "\(watch.output)")
        // SIGTERM goes to narsync, not to strace (a test's children may inherit it blocked);
        // strace ends with it, exiting with its status.
        let children = (try? String(contentsOfFile: "/proc/\(watch.process.processIdentifier)/task/\(watch.process.processIdentifier)/children", encoding: .utf8)) ?? ""
        let narsync = children.split(separator: " ").first.flatMap { pid_t($0) }
        #expect(narsync != nil)
        if let narsync { kill(narsync, SIGTERM) } else { kill(watch.process.processIdentifier, SIGKILL) }
        #expect(watch.stop(0) == 0)

        // The service is down: the hook spools.
        let spooled = try Subprocess.run(strace, Array(traced("hook").dropFirst()) + [
            narsyncExecutable, "hook", "--socket", socket, "--spool-dir", "\(state)/spool", built,
        ], environment: tracedEnvironment)
        #expect(spooled.standardError.contains("spool"), "\(spooled.standardError)")

        var checked = 0, writes = 0
        var outside: [String] = []
        for name in ["backfill", "watch", "hook"] {
            let trace = WriteTrace(try String(contentsOfFile: traces.appending(name), encoding: .utf8))
            #expect(trace.writes.count > 0, "\(name): no write traced")
            checked += trace.calls
            writes += trace.writes.count
            for write in trace.writes where !write.paths.allSatisfy({ isAllowed($0) }) {
                outside.append("\(name): \(write.line)")
            }
        }
        #expect(outside.isEmpty, "\(outside.joined(separator: "\n"))")
        print("permissions campaign: \(checked) file system calls traced, \(writes) of them writes, \(outside.count) outside the state directory and destination")
    }

    @Test func theTraceReaderFindsEveryWriteWithItsFullPath() {
        let trace = WriteTrace("""
            10 openat(AT_FDCWD</cwd>, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3</etc/passwd>
            10 openat(AT_FDCWD</cwd>, "/etc/shadow", O_WRONLY|O_CREAT|O_TRUNC, 0600) = -1 EACCES (Permission denied)
            11 openat(4</srv/cache/nar>, "x.tmp", O_RDWR|O_CREAT|O_EXCL, 0644 <unfinished ...>
            11 <... openat resumed>) = 5</srv/cache/nar/x.tmp>
            10 renameat2(AT_FDCWD</cwd>, "a", AT_FDCWD</cwd>, "/srv/b", RENAME_NOREPLACE) = 0
            10 bind(3<socket:[1]>, {sa_family=AF_UNIX, sun_path="/run/narsync/hook.sock"}, 110) = 0
            10 bind(3<socket:[2]>, {sa_family=AF_INET, sin_port=htons(9400)}, 16) = 0
            10 unlinkat(5</var/lib/narsync/spool>, "1.request", 0) = 0
            """)
        #expect(trace.calls == 7)
        #expect(trace.writes.map(\.paths) == [
            ["/etc/shadow"], ["/srv/cache/nar/x.tmp"], ["/cwd/a", "/srv/b"], ["/run/narsync/hook.sock"], ["/var/lib/narsync/spool/1.request"],
        ])
    }

    /// The state directory, the destination, the shared-memory index and log SQLite keeps
    /// beside Nix's WAL database even for a read-only reader (README, "Running as a service"),
    /// and a thread's own name in /proc (`BlockingExecutor` names its threads). Under
    /// ThreadSanitizer (reliability/sanitizers), its runtime's own scratch file is not narsync's.
    private func isAllowed(_ path: String) -> Bool {
        let database = nix.storeRoot + "/nix/var/nix/db/db.sqlite"
        if [database + "-shm", database + "-wal", "/dev/null", "/proc/thread-self/comm"].contains(path) { return true }
        if path.hasPrefix("/tmp/tsan.rodata.") { return true }
        return [state, cache].contains { path == $0 || path.hasPrefix($0 + "/") }
    }
}

/// The file system calls in an `strace -f` log that can change something, with their paths.
struct WriteTrace {
    static let syscalls = [
        "open", "openat", "creat", "mkdir", "mkdirat", "rename", "renameat", "renameat2", "link", "linkat",
        "symlink", "symlinkat", "unlink", "unlinkat", "rmdir", "chmod", "fchmodat", "chown", "lchown", "fchownat",
        "truncate", "mknod", "mknodat", "utimensat", "bind",
    ]

    struct Write {
        var line: String
        var paths: [String]
    }

    /// Traced calls, and those among them that may write.
    var calls = 0
    var writes: [Write] = []

    init(_ log: String) {
        for line in log.split(separator: "\n").map(String.init) {
            // `<... openat resumed>` lines carry no path; the `<unfinished ...>` line had it.
            guard let match = line.firstMatch(of: /^\d+\s+([a-z0-9_]+)\((.*)$/) else { continue }
            let call = String(match.1), arguments = String(match.2)
            calls += 1
            switch call {
            case "open", "openat":
                // The flags follow the path; the result is annotated with the file opened (-y).
                let afterPath = arguments.split(separator: "\"").last.map(String.init) ?? ""
                guard ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"].contains(where: { afterPath.contains($0) }) else { continue }
                writes.append(Write(line: line, paths: Array(Self.paths(in: arguments).prefix(1))))
            case "bind":
                // Only Unix sockets make a file; the metrics endpoint binds a TCP port.
                guard let socketPath = arguments.firstMatch(of: /sun_path="([^"]*)"/) else { continue }
                writes.append(Write(line: line, paths: [String(socketPath.1)]))
            default:
                writes.append(Write(line: line, paths: Self.paths(in: arguments)))
            }
        }
    }

    /// The quoted paths of a call's arguments, made absolute with the directory strace shows
    /// for the descriptor before each (`AT_FDCWD</cwd>, "name"` or `4</dir>, "name"`).
    static func paths(in arguments: String) -> [String] {
        arguments.matches(of: /(?:<([^>]*)>, )?"((?:[^"\\]|\\.)*)"/).map { match in
            let path = String(match.2)
            guard !path.hasPrefix("/"), let directory = match.1 else { return path }
            return path.isEmpty ? String(directory) : "\(directory)/\(path)"
        }
    }
}

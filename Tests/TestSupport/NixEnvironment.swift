import Foundation

/// A private, single-user real Nix for one test: its own nix.conf, cache directory and
/// throwaway chroot stores, so tests never touch the machine's /nix and never need a daemon.
///
/// With `nix: .v2_26` every Nix tool runs inside the Debian 13 tree (`scripts/in-trixie`), with
/// this environment's directory, the built narsync programs and the Swift runtime they link to
/// visible at the same paths, so stores, caches and a `post-build-hook` are shared with the
/// host; narsync itself runs on the host and reads those stores with `--store-root`.
public final class NixEnvironment: @unchecked Sendable {
    public let version: NixVersion
    public let directory: TemporaryDirectory
    /// The root of the default throwaway store: Nix's `local?root=<storeRoot>`, whose database
    /// is `<storeRoot>/nix/var/nix/db/db.sqlite` and whose files are under `<storeRoot>/nix/store`.
    public let storeRoot: String
    public let configDirectory: String

    /// Host directories Nix 2.26's tools see at the same path, besides `directory`.
    private var binds: [String]

    /// - Parameters:
    ///   - nix: which Nix runs the tools.
    ///   - extraConfig: lines appended to nix.conf (e.g. `post-build-hook = ...`).
    ///   - sharing: more host directories Nix must see (a cache outside `directory`); only
    ///     Nix 2.26 needs them, Nix 2.8 sees the whole machine.
    public init(nix version: NixVersion = .v2_8, extraConfig: String = "", sharing: [String] = []) throws {
        self.version = version
        directory = try TemporaryDirectory(prefix: "narsync-nix")
        binds = sharing
        if version == .v2_26 {
            binds.append((narsyncExecutable as NSString).deletingLastPathComponent)
            if let runtime = NixVersion.swiftRuntimeDirectory { binds.append(runtime) }
        }
        storeRoot = directory.appending("store")
        configDirectory = directory.appending("conf")
        try FileManager.default.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.appending("cache"), withIntermediateDirectories: true)
        let config = """
            build-users-group =
            sandbox = false
            substituters =
            experimental-features = nix-command
            narinfo-cache-negative-ttl = 0
            narinfo-cache-positive-ttl = 0
            \(extraConfig)

            """
        try config.write(toFile: "\(configDirectory)/nix.conf", atomically: true, encoding: .utf8)
    }

    /// The environment every Nix command of this test runs with.
    public var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["NIX_CONF_DIR"] = configDirectory
        environment["XDG_CACHE_HOME"] = directory.appending("cache")
        environment["HOME"] = directory.path
        environment.removeValue(forKey: "NIX_REMOTE")
        return environment
    }

    /// Another empty store root under this environment's directory.
    public func makeStoreRoot(_ name: String) -> String { directory.appending(name) }

    /// Makes the store's database exist (Nix creates it on first use), as `narsync watch`
    /// needs a database to watch: adds one small file.
    public func createStore() throws {
        let seed = directory.appending("seed")
        try "seed".write(toFile: seed, atomically: true, encoding: .utf8)
        _ = try add(seed)
    }

    /// Makes `path` (a host directory) visible to this environment's Nix at the same path.
    public func share(_ path: String) { binds.append(path) }

    /// The program and arguments that run `tool` of this environment's Nix.
    public func commandLine(_ tool: String, _ arguments: [String]) throws -> (executable: String, arguments: [String]) {
        switch version {
        case .v2_8:
            return (tool, arguments)
        case .v2_26:
            let inTrixie = try NixVersion.inTrixie.get()
            return (inTrixie, ([directory.path] + binds).flatMap { ["--bind", $0] } + ["--", tool] + arguments)
        }
    }

    /// Runs a Nix tool (`nix`, `nix-store`, `nix-build`, ...) and throws unless it succeeds.
    @discardableResult
    public func run(_ tool: String, _ arguments: [String], input: [UInt8]? = nil) throws -> ProcessResult {
        let command = try commandLine(tool, arguments)
        return try Subprocess.checked(command.executable, command.arguments, environment: environment, input: input)
    }

    /// Runs a Nix tool and returns its result whatever its exit status.
    @discardableResult
    public func attempt(_ tool: String, _ arguments: [String]) throws -> ProcessResult {
        let command = try commandLine(tool, arguments)
        return try Subprocess.run(command.executable, command.arguments, environment: environment)
    }

    /// Starts a Nix tool that runs while the test goes on (a build holding the database open).
    public func start(_ tool: String, _ arguments: [String], logFile: String) throws -> BackgroundProcess {
        let command = try commandLine(tool, arguments)
        let executable = command.executable.hasPrefix("/") ? command.executable : try Subprocess.which(command.executable)
        return try BackgroundProcess(executable, command.arguments, environment: environment, logFile: logFile)
    }

    /// Builds `expression` (a Nix expression text) in the store at `storeRoot` and returns the
    /// output paths. Builders run with /bin, /usr and /lib visible, so `/bin/sh` scripts work.
    public func build(_ expression: String, storeRoot: String? = nil) throws -> [String] {
        let file = directory.appending("expr-\(UUID().uuidString).nix")
        try expression.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try run("nix-build", [
            "--store", storeRoot ?? self.storeRoot,
            "--option", "sandbox-paths", "/bin /usr /lib /lib64",
            "--no-out-link", file,
        ])
        return result.trimmedOutput.split(separator: "\n").map(String.init)
    }

    /// Adds a file or tree to the store with `nix-store --add` and returns its store path.
    public func add(_ path: String, storeRoot: String? = nil) throws -> String {
        try run("nix-store", ["--store", storeRoot ?? self.storeRoot, "--add", path]).trimmedOutput
    }

    /// The closure of `path` in dependency order is not what `nix-store -qR` guarantees, so
    /// this returns it as a set.
    public func closure(of path: String, storeRoot: String? = nil) throws -> Set<String> {
        let output = try run("nix-store", ["--store", storeRoot ?? self.storeRoot, "-qR", path]).trimmedOutput
        return Set(output.split(separator: "\n").map(String.init))
    }

    /// Where the files of `storePath` are on disk in a chroot store.
    public func physicalPath(of storePath: String, storeRoot: String? = nil) -> String {
        (storeRoot ?? self.storeRoot) + storePath
    }

    /// What Nix records for a valid path, from `nix path-info --json`.
    public func pathInfo(_ storePath: String, storeRoot: String? = nil) throws -> NixPathInfo {
        let output = Data(try run("nix", ["path-info", "--json", "--store", storeRoot ?? self.storeRoot, storePath]).outputBytes)
        // Nix 2.8 prints a list of infos with their paths; Nix 2.19 and later an object keyed by path.
        let info = try (try? JSONDecoder().decode([NixPathInfo].self, from: output))?.first
            ?? JSONDecoder().decode([String: NixPathInfo.WithoutPath].self, from: output)[storePath].map { NixPathInfo(path: storePath, $0) }
        guard let info else { throw TestFailure("nix path-info printed nothing for \(storePath)") }
        return info
    }

    /// Replaces the signatures Nix's database holds for `storePath`, as if Nix had added them.
    public func setSignatures(_ signatures: [String], of storePath: String, storeRoot: String? = nil) throws {
        let database = (storeRoot ?? self.storeRoot) + "/nix/var/nix/db/db.sqlite"
        func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        let sql = "UPDATE ValidPaths SET sigs = \(quoted(signatures.joined(separator: " "))) WHERE path = \(quoted(storePath));"
        try Subprocess.checked("sqlite3", [database, sql])
    }
}

/// One entry of `nix path-info --json`.
public struct NixPathInfo: Decodable, Sendable {
    public var path: String
    /// SRI form, `sha256-<base64>`.
    public var narHash: String
    public var narSize: UInt64
    public var references: [String]
    public var deriver: String?
    public var signatures: [String]?
    public var ca: String?

    /// An entry of Nix 2.19's and later's output, keyed by its path.
    public struct WithoutPath: Decodable, Sendable {
        public var narHash: String
        public var narSize: UInt64
        public var references: [String]
        public var deriver: String?
        public var signatures: [String]?
        public var ca: String?
    }

    init(path: String, _ info: WithoutPath) {
        self.path = path
        narHash = info.narHash
        narSize = info.narSize
        references = info.references
        deriver = info.deriver
        signatures = info.signatures
        ca = info.ca
    }
}

/// A derivation whose builder is a `/bin/sh` script, as a Nix expression; no nixpkgs needed.
/// `script` sees `$out` and a PATH with coreutils; `${other}` interpolations make references.
public func shellDerivation(name: String, script: String) -> String {
    let escaped = script.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    return """
        derivation { name = "\(name)"; system = builtins.currentSystem; builder = "/bin/sh"; \
        PATH = "/bin:/usr/bin"; args = [ "-c" "\(escaped)" ]; }
        """
}

/// The built `narsync` executable, next to the test bundle in the build directory.
public var narsyncExecutable: String {
    let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = (testBinary as NSString).deletingLastPathComponent
    // swift test runs `<Package>PackageTests.xctest`; on Linux it is a file in the build directory.
    while !directory.isEmpty && directory != "/" {
        let candidate = "\(directory)/narsync"
        var info = stat()
        if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG { return candidate }
        directory = (directory as NSString).deletingLastPathComponent
    }
    return "narsync"
}

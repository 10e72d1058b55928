import Foundation
import StorePaths

/// One run of Nix's post-build-hook: take the paths, hand them to the service or else to the
/// spool, and say in one line what happened. Shared by `narsync hook` and `narsync-hook`.
///
/// Nothing here fails: every problem becomes a line for the build log, so that a narsync
/// problem never fails a build.
public struct HookCall: Sendable {
    public var socketPath: String
    public var spoolDirectory: String
    public var storeDirectory: String
    /// Where the store's files are, for reading a derivation; nil to take it from NIX_CONFIG.
    public var storeRoot: String?

    /// How many dropped paths are named, one line each, before the rest are counted: a build
    /// log is no place for ten thousand lines.
    public static let namedDropLimit = 10

    /// Settings from the environment Nix passes its hook: `NARSYNC_HOOK_SOCKET`,
    /// `NARSYNC_SPOOL_DIR`, and Nix's own `NIX_STORE_DIR`.
    public init(socketPath: String? = nil, spoolDirectory: String? = nil, storeDirectory: String? = nil, storeRoot: String? = nil) {
        self.socketPath = socketPath ?? Self.environment("NARSYNC_HOOK_SOCKET") ?? HookServer.Configuration.defaultSocketPath
        self.spoolDirectory = spoolDirectory ?? Self.environment("NARSYNC_SPOOL_DIR") ?? Spool.defaultDirectory
        self.storeDirectory = storeDirectory ?? Self.environment("NIX_STORE_DIR") ?? StoreDirectory.standard.path
        self.storeRoot = storeRoot
    }

    /// Queues `outputs` (texts of whitespace-separated paths) or, if none is given, OUT_PATHS
    /// and DRV_PATH from the environment.
    public func run(outputs: [String]? = nil, say: (String) -> Void = HookCall.sayOnStandardError) {
        let storeDirectory: StoreDirectory
        do {
            storeDirectory = try StoreDirectory(self.storeDirectory)
        } catch {
            return say("\(error); nothing queued")
        }
        let input = outputs.map { HookInput(outputs: $0, derivation: nil, storeDirectory: storeDirectory) }
            ?? HookInput(outputs: [Self.environment("OUT_PATHS") ?? ""], derivation: Self.environment("DRV_PATH"), storeDirectory: storeDirectory)
        for reason in input.dropped.prefix(Self.namedDropLimit) { say("dropped \(reason)") }
        let named = min(input.dropped.count, Self.namedDropLimit)
        if input.droppedCount > named { say("dropped \(input.droppedCount - named) more") }
        guard let given = input.request else {
            return say("no valid store paths given (OUT_PATHS, arguments or --stdin); nothing queued")
        }

        let request = withOutputsOfDerivation(given, storeDirectory, say: say)
        let count = request.outputs.isEmpty ? "the outputs of \(request.derivation!)"
            : request.outputs.count == 1 ? "1 path" : "\(request.outputs.count) paths"
        do {
            let queued = try HookClient.send(request, storeDirectory: storeDirectory, socketPath: socketPath)
            say("queued \(count) for upload (\(queued) new)")
        } catch {
            do {
                let file = try Spool(directory: spoolDirectory).write(request, storeDirectory: storeDirectory)
                say("spooled \(count) to \(file) (\(error))")
            } catch let spoolError {
                say("could not queue \(count): \(error); could not spool either: \(spoolError)")
            }
        }
    }

    /// `request` with the outputs its derivation names, if it has none: Nix 2.8.0 sets
    /// OUT_PATHS empty (NixOS/nix#6446). If the .drv cannot be read, the service looks the
    /// outputs up in the Nix database instead.
    private func withOutputsOfDerivation(_ request: HookRequest, _ storeDirectory: StoreDirectory, say: (String) -> Void) -> HookRequest {
        guard request.outputs.isEmpty, let derivation = request.derivation else { return request }
        let root = storeRoot ?? Self.storeRoot(fromNixConfig: Self.environment("NIX_CONFIG") ?? "")
        let file = StoreLayout(root: root, storeDirectory: storeDirectory).physicalPath(of: derivation)
        do {
            return HookRequest(outputs: try DerivationOutputs.read(file, storeDirectory: storeDirectory), derivation: derivation)
        } catch {
            say("OUT_PATHS is empty and \(error); the service will look the outputs up")
            return request
        }
    }

    /// The root of the store Nix built in, from the settings it passes its hook: a chroot
    /// store is `store = /some/dir` or `store = local?root=/some/dir`; anything else is `/`.
    static func storeRoot(fromNixConfig config: String) -> String {
        for line in config.split(separator: "\n") where line.hasPrefix("store = ") {
            let store = line.dropFirst("store = ".count)
            if store.hasPrefix("/") { return String(store) }
            if store.hasPrefix("local?"), let root = store.split(separator: "?").last?.split(separator: "&")
                .first(where: { $0.hasPrefix("root=/") }) {
                return String(root.dropFirst("root=".count))
            }
        }
        return "/"
    }

    /// A non-empty environment variable.
    static func environment(_ name: String) -> String? {
        guard let value = getenv(name), value.pointee != 0 else { return nil }
        return String(cString: value)
    }

    /// Prints `narsync hook: <message>` as one line (control characters escaped) on standard
    /// error, which Nix copies into the build log.
    public static func sayOnStandardError(_ message: String) {
        let line = Array("narsync hook: \(message.debugQuoted)\n".utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}

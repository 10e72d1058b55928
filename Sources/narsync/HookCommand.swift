import ArgumentParser
import Foundation
import NixStore
import Replication

struct HookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Queue what Nix just built for upload, as Nix's post-build-hook; never fails a build.",
        discussion: """
            Hands the paths to the running narsync service over its Unix socket and returns at \
            once; the upload happens outside Nix's build loop. If the service cannot be reached \
            within 200 ms, the request is written to the spool directory, which the service \
            reads when it starts. Always exits 0 and prints one line, which Nix shows in the \
            build log. Paths that are not valid store paths are dropped, one line each.

            Nix runs post-build-hook as a program without arguments and sets OUT_PATHS and \
            DRV_PATH, so point it at the narsync binary itself, or at a symlink to it named \
            narsync-hook, in /etc/nix/nix.conf:

              post-build-hook = /usr/local/bin/narsync

            (narsync run without arguments while Nix's OUT_PATHS and DRV_PATH are set acts as \
            `narsync hook`.) For another socket or spool directory, set NARSYNC_HOOK_SOCKET and \
            NARSYNC_SPOOL_DIR in Nix's environment (nix-daemon's, for a multi-user install), \
            or use a two-line script:

              #!/bin/sh
              exec /usr/local/bin/narsync hook --socket /run/narsync/hook.sock

            Scripts may also pass paths as arguments or, with --stdin, separated by whitespace \
            on standard input; OUT_PATHS and DRV_PATH are then ignored. When OUT_PATHS is empty \
            (as Nix 2.8.0 leaves it), the outputs are read from the derivation DRV_PATH.
            """
    )

    @Option(help: ArgumentHelp("The service's hook socket; $NARSYNC_HOOK_SOCKET if set.", valueName: "path"))
    var socket: String = HookCommand.environment("NARSYNC_HOOK_SOCKET") ?? HookServer.Configuration.defaultSocketPath

    @Option(name: .customLong("spool-dir"), help: ArgumentHelp(
        "Where requests wait when the service cannot be reached; $NARSYNC_SPOOL_DIR if set.",
        valueName: "dir"))
    var spoolDirectory: String = HookCommand.environment("NARSYNC_SPOOL_DIR") ?? Spool.defaultDirectory

    @Option(name: .customLong("store-dir"), help: ArgumentHelp("The store directory paths are named in.", valueName: "dir"))
    var storeDirectory: String = "/nix/store"

    @Option(name: .customLong("store-root"), help: ArgumentHelp(
        "Filesystem root of the Nix store, where the derivation is read when OUT_PATHS is empty (default: from the store setting Nix passes in NIX_CONFIG, or /).",
        valueName: "dir"))
    var storeRoot: String?

    @Flag(help: "Read paths from standard input instead of OUT_PATHS.")
    var stdin = false

    @Argument(help: ArgumentHelp("Store paths to queue instead of OUT_PATHS.", valueName: "path"))
    var paths: [String] = []

    /// How many dropped paths are named, one line each, before the rest are counted: a build
    /// log is no place for ten thousand lines.
    static let namedDropLimit = 10

    func run() {
        let storeDirectory: StoreDirectory
        do {
            storeDirectory = try StoreDirectory(self.storeDirectory)
        } catch {
            return Self.say("\(error); nothing queued")
        }
        let input = readInput(storeDirectory)
        for reason in input.dropped.prefix(Self.namedDropLimit) { Self.say("dropped \(reason)") }
        let named = min(input.dropped.count, Self.namedDropLimit)
        if input.droppedCount > named { Self.say("dropped \(input.droppedCount - named) more") }
        guard let given = input.request else {
            return Self.say("no valid store paths given (OUT_PATHS, arguments or --stdin); nothing queued")
        }
        let request = withOutputsOfDerivation(given, storeDirectory)
        let count = request.outputs.isEmpty ? "the outputs of \(request.derivation!)"
            : request.outputs.count == 1 ? "1 path" : "\(request.outputs.count) paths"
        do {
            let queued = try HookClient.send(request, storeDirectory: storeDirectory, socketPath: socket)
            Self.say("queued \(count) for upload (\(queued) new)")
        } catch {
            do {
                let file = try Spool(directory: spoolDirectory).write(request, storeDirectory: storeDirectory)
                Self.say("spooled \(count) to \(file) (\(error))")
            } catch let spoolError {
                Self.say("could not queue \(count): \(error); could not spool either: \(spoolError)")
            }
        }
    }

    /// `request` with the outputs its derivation names, if it has none: Nix 2.8.0 sets
    /// OUT_PATHS empty (NixOS/nix#6446). If the .drv cannot be read, the service looks the
    /// outputs up in the Nix database instead.
    private func withOutputsOfDerivation(_ request: HookRequest, _ storeDirectory: StoreDirectory) -> HookRequest {
        guard request.outputs.isEmpty, let derivation = request.derivation else { return request }
        let root = storeRoot ?? Self.storeRoot(fromNixConfig: ProcessInfo.processInfo.environment["NIX_CONFIG"] ?? "")
        let file = StoreLayout(root: root, storeDirectory: storeDirectory).physicalPath(of: derivation)
        do {
            return HookRequest(outputs: try DerivationOutputs.read(file, storeDirectory: storeDirectory), derivation: derivation)
        } catch {
            Self.say("OUT_PATHS is empty and \(error); the service will look the outputs up")
            return request
        }
    }

    private func readInput(_ storeDirectory: StoreDirectory) -> HookInput {
        if stdin {
            var bytes = FileHandle.standardInput.readData(ofLength: HookRequest.maximumSize + 1)
            if bytes.count > HookRequest.maximumSize {
                // The last word might be cut short into another valid-looking path.
                Self.say("dropped standard input: it is larger than \(HookRequest.maximumSize) bytes")
                bytes = Data()
            }
            return HookInput(outputs: paths + [String(decoding: bytes, as: UTF8.self)], derivation: nil, storeDirectory: storeDirectory)
        }
        if !paths.isEmpty {
            return HookInput(outputs: paths, derivation: nil, storeDirectory: storeDirectory)
        }
        let environment = ProcessInfo.processInfo.environment
        return HookInput(outputs: [environment["OUT_PATHS"] ?? ""], derivation: environment["DRV_PATH"], storeDirectory: storeDirectory)
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
    private static func environment(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// One line to standard error, which Nix copies into the build log.
    static func say(_ message: String) {
        FileHandle.standardError.write(Data("narsync hook: \(message.debugQuoted)\n".utf8))
    }

    /// Whether this process was started as Nix's post-build-hook without the `hook` word:
    /// through a `narsync-hook` symlink, or as a bare `narsync` with Nix's variables set.
    static func isImplied(by arguments: [String]) -> Bool {
        if let program = arguments.first, (program as NSString).lastPathComponent == "narsync-hook" { return true }
        let environment = ProcessInfo.processInfo.environment
        return arguments.count == 1 && environment["OUT_PATHS"] != nil && environment["DRV_PATH"] != nil
    }

    /// Parses `arguments` (after `narsync hook`) and runs; exits 0 whatever happens, so that a
    /// mistake in a hook's configuration never fails a build.
    static func mainNeverFailing(_ arguments: [String]) -> Never {
        do {
            // `hook --help` parses as ArgumentParser's help command, which prints the help.
            var command = try Narsync.parseAsRoot(["hook"] + arguments)
            try command.run()
        } catch {
            if Narsync.exitCode(for: error) == .success {
                print(Narsync.fullMessage(for: error))
            } else {
                say("\(Narsync.message(for: error).replacingOccurrences(of: "\n", with: " ")); nothing queued")
            }
        }
        Foundation.exit(0)
    }
}

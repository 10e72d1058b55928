import ArgumentParser
import Foundation
import Hook
import NixStore

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
            DRV_PATH, so point it at narsync-hook, the binary installed next to narsync that \
            does only this and starts faster, in /etc/nix/nix.conf:

              post-build-hook = /usr/local/bin/narsync-hook

            narsync itself works too (run without arguments while Nix's OUT_PATHS and DRV_PATH \
            are set, or through a symlink named narsync-hook, it acts as `narsync hook`). For \
            another socket or spool directory, set NARSYNC_HOOK_SOCKET and NARSYNC_SPOOL_DIR \
            in Nix's environment (nix-daemon's, for a multi-user install), or use a script:

              #!/bin/sh
              exec /usr/local/bin/narsync hook --socket /run/narsync/hook.sock

            Scripts may also pass paths as arguments or, with --stdin, separated by whitespace \
            on standard input; OUT_PATHS and DRV_PATH are then ignored. When OUT_PATHS is empty \
            (as Nix 2.8.0 leaves it), the outputs are read from the derivation DRV_PATH.
            """
    )

    @Option(help: ArgumentHelp("The service's hook socket; $NARSYNC_HOOK_SOCKET if set.", valueName: "path"))
    var socket: String?

    @Option(name: .customLong("spool-dir"), help: ArgumentHelp(
        "Where requests wait when the service cannot be reached; $NARSYNC_SPOOL_DIR if set.", valueName: "dir"))
    var spoolDirectory: String?

    @Option(name: .customLong("store-dir"), help: ArgumentHelp(
        "The store directory paths are named in; $NIX_STORE_DIR if set.", valueName: "dir"))
    var storeDirectory: String?

    @Option(name: .customLong("store-root"), help: ArgumentHelp(
        "Filesystem root of the Nix store, where the derivation is read when OUT_PATHS is empty (default: from the store setting Nix passes in NIX_CONFIG, or /).",
        valueName: "dir"))
    var storeRoot: String?

    @Flag(help: "Read paths from standard input instead of OUT_PATHS.")
    var stdin = false

    @Argument(help: ArgumentHelp("Store paths to queue instead of OUT_PATHS.", valueName: "path"))
    var paths: [String] = []

    func run() {
        let call = HookCall(socketPath: socket, spoolDirectory: spoolDirectory, storeDirectory: storeDirectory, storeRoot: storeRoot)
        call.run(outputs: explicitPaths())
    }

    /// The paths given as arguments and on standard input, or nil to take Nix's variables.
    private func explicitPaths() -> [String]? {
        guard stdin else { return paths.isEmpty ? nil : paths }
        let bytes = FileHandle.standardInput.readData(ofLength: HookRequest.maximumSize + 1)
        guard bytes.count <= HookRequest.maximumSize else {
            // The last word might be cut short into another valid-looking path.
            HookCall.sayOnStandardError("dropped standard input: it is larger than \(HookRequest.maximumSize) bytes")
            return paths
        }
        return paths + [String(decoding: bytes, as: UTF8.self)]
    }

    /// Whether this process was started as Nix's post-build-hook without the `hook` word:
    /// through a `narsync-hook` symlink, or as a bare `narsync` with Nix's variables set.
    static func isImplied(by arguments: [String]) -> Bool {
        if let program = arguments.first, (program as NSString).lastPathComponent == "narsync-hook" { return true }
        return arguments.count == 1 && getenv("OUT_PATHS") != nil && getenv("DRV_PATH") != nil
    }

    /// Parses `arguments` (after `narsync hook`) and runs; exits 0 whatever happens, so that a
    /// mistake in a hook's configuration never fails a build.
    static func mainNeverFailing(_ arguments: [String]) -> Never {
        // As Nix calls it, without arguments, there is nothing to parse: ArgumentParser's
        // reflection over narsync's commands would be most of the call's time.
        if arguments.isEmpty {
            HookCall().run()
            Foundation.exit(0)
        }
        do {
            // `hook --help` parses as ArgumentParser's help command, which prints the help.
            var command = try Narsync.parseAsRoot(["hook"] + arguments)
            try command.run()
        } catch {
            if Narsync.exitCode(for: error) == .success {
                print(Narsync.fullMessage(for: error))
            } else {
                HookCall.sayOnStandardError("\(Narsync.message(for: error)); nothing queued")
            }
        }
        Foundation.exit(0)
    }
}

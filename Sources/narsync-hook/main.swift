// Nix's post-build-hook, as a program of its own: `post-build-hook = /usr/local/bin/narsync-hook`.
//
// The same as `narsync hook` without arguments, but without the rest of narsync (libcrypto,
// libsodium, SQLite, zstd, the upload pipeline) to load, so that each build waits less. Nix passes
// no arguments; settings come from the environment (see `HookCall`). Always exits 0.
import Foundation
import Hook

let arguments = CommandLine.arguments.dropFirst()
if arguments.contains("--help") || arguments.contains("-h") {
    print("""
        usage: narsync-hook    (as Nix's post-build-hook, with OUT_PATHS and DRV_PATH set)

        Hands the paths Nix just built to the narsync service, or to its spool directory if
        the service cannot be reached, and always exits 0. Settings: NARSYNC_HOOK_SOCKET
        (default \(HookServer.Configuration.defaultSocketPath)), NARSYNC_SPOOL_DIR (default \
        \(Spool.defaultDirectory)), NIX_STORE_DIR. For paths as arguments or on standard input,
        use `narsync hook`.
        """)
} else if !arguments.isEmpty {
    HookCall.sayOnStandardError("narsync-hook takes no arguments (use `narsync hook` for paths as arguments); nothing queued")
} else {
    HookCall().run()
}
exit(0)

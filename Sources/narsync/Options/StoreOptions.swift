import ArgumentParser
import NixStore

/// Which Nix store narsync reads.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("store-root"), help: ArgumentHelp(
        "Filesystem root of the Nix store: / for the machine's store, or the directory of a chroot store (Nix's local?root=DIR).",
        valueName: "dir"))
    var root: String = "/"

    @Option(name: .customLong("store-dir"), help: ArgumentHelp(
        "The store directory paths are named in; part of every path's hash, so it must match the store.",
        valueName: "dir"))
    var storeDirectory: String = "/nix/store"

    func layout() throws -> StoreLayout {
        StoreLayout(root: root, storeDirectory: try StoreDirectory(storeDirectory))
    }
}

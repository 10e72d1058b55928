// swift-tools-version:6.0
import PackageDescription

// The fuzzers of narsync's parsers of hostile input: one libFuzzer executable per parser.
// Build and run them with ./run (see RELIABILITY.md, "Hostile input"); a plain `swift build`
// here lacks -sanitize=fuzzer and does not link.
//
// `narsync` is a symbolic link to the repository's root: a path dependency's identity is its
// directory's name, and the clone's own directory may have any name.

/// Each fuzzer, by the name `./run` knows it, with the modules it exercises.
let fuzzers: [(name: String, modules: [String])] = [
    ("narinfo", ["NixStore"]),
    ("keys", ["NixStore"]),
    ("hashes", ["NixStore"]),
    ("store-path", ["NixStore"]),
    ("hook-socket", ["NixStore", "Hook"]),
    ("spool", ["NixStore", "Hook"]),
    ("config", ["NarsyncConfiguration"]),
]

let package = Package(
    name: "narsync-fuzz",
    dependencies: [.package(path: "narsync")],
    targets: [
        // libFuzzer's LLVMFuzzerRunDriver, which each fuzzer's main calls.
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"]),
    ] + fuzzers.map { fuzzer in
        .executableTarget(
            name: "fuzz-\(fuzzer.name)",
            dependencies: ["FuzzSupport"] + fuzzer.modules.map { .product(name: $0, package: "narsync") }
        )
    }
)

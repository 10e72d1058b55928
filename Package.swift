// swift-tools-version:6.0
import PackageDescription

/// A C library found with pkg-config, with the Debian package that provides its headers.
func systemLibrary(_ name: String, pkgConfig: String, debian: String) -> Target {
    .systemLibrary(name: name, pkgConfig: pkgConfig, providers: [.apt([debian])])
}

let package = Package(
    name: "narsync",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "narsync", targets: ["narsync"]),
        .executable(name: "narsync-hook", targets: ["narsync-hook"]),
        .library(name: "NixStore", targets: ["NixStore"]),
        // For the fuzzers in fuzz/, a package of their own.
        .library(name: "Hook", targets: ["Hook"]),
        .library(name: "NarsyncConfiguration", targets: ["NarsyncConfiguration"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // The C libraries narsync is built on.
        systemLibrary("CSodium", pkgConfig: "libsodium", debian: "libsodium-dev"),
        // Headers only (Debian: libcurl4-openssl-dev), without pkg-config, whose `-lcurl` would
        // link libcurl at start-up again: CCurlLoader loads it.
        .systemLibrary(name: "CCurl"),
        systemLibrary("CSQLite", pkgConfig: "sqlite3", debian: "libsqlite3-dev"),
        systemLibrary("CZstd", pkgConfig: "libzstd", debian: "libzstd-dev"),
        systemLibrary("CCrypto", pkgConfig: "libcrypto", debian: "libssl-dev"),
        // Linux calls glibc declares only for _GNU_SOURCE, which Swift's Glibc module leaves out.
        .target(name: "CSystemCalls"),
        // libcurl's functions, from libcurl loaded when a destination first needs it, so that
        // the commands that never do (`narsync hook` above all) do not load its two dozen libraries.
        .target(name: "CCurlLoader", dependencies: ["CCurl"], linkerSettings: [.linkedLibrary("dl")]),

        // Threads, file descriptors and atomic files: the POSIX ground the other targets stand on.
        .target(name: "SystemSupport", dependencies: ["CSystemCalls"]),
        // A small Swift face for SQLite, shared by the Nix database reader and narsync's manifest.
        .target(name: "SQLite", dependencies: ["CSQLite", "SystemSupport"]),
        // Store paths, their directory and where a store's files are: the part of the Nix domain
        // the hook needs, without the C libraries.
        .target(name: "StorePaths"),
        // The Nix domain: hashes, store paths, NAR, narinfo, keys and signatures, the Nix database.
        .target(name: "NixStore", dependencies: ["StorePaths", "CSodium", "CCrypto", "SQLite", "SystemSupport"]),
        // Where caches live: file://, s3:// and http(s):// destinations behind one protocol.
        .target(
            name: "BinaryCache",
            dependencies: [
                "CCurl", "CCurlLoader", "CCrypto", "NixStore", "SystemSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // What Nix's post-build-hook and the service say to each other: request format, spool,
        // socket. Apart from Replication and NixStore so that the hook binary loads none of the C
        // libraries (curl, zstd, libcrypto, libsodium, SQLite).
        .target(
            name: "Hook",
            dependencies: ["StorePaths", "SystemSupport", .product(name: "Logging", package: "swift-log")]
        ),
        // The one upload pipeline: closures in dependency order, NAR -> SHA-256 -> zstd -> destination.
        .target(
            name: "Replication",
            dependencies: [
                "CZstd", "NixStore", "BinaryCache", "SQLite", "SystemSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `narsync watch` as a service: the supervisor that runs one replication service per
        // destination and the hook server, reloads on SIGHUP, stops gracefully, tells systemd.
        .target(
            name: "NarsyncService",
            dependencies: [
                "Replication", "Hook", "BinaryCache", "NixStore", "SystemSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // TOML 1.0 text into a tree of values, each with the line that defined it; errors, never aborts.
        .target(name: "TOML"),
        // config.toml and NARSYNC_* variables layered under the command line, apart from the
        // command line itself so that the fuzzers can read configuration files.
        .target(name: "NarsyncConfiguration", dependencies: ["StorePaths", "TOML"]),
        // The thin command line.
        .executableTarget(
            name: "narsync",
            dependencies: [
                "NixStore", "BinaryCache", "Replication", "Hook", "SystemSupport", "NarsyncConfiguration",
                "NarsyncService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // `narsync hook` alone, for post-build-hook: it starts in two thirds of narsync's time.
        .executableTarget(name: "narsync-hook", dependencies: ["Hook"]),

        // Test harness: a private real Nix, throwaway stores, moto, fixture trees.
        .target(name: "TestSupport", dependencies: ["NixStore", "SystemSupport"], path: "Tests/TestSupport"),
        .testTarget(name: "SystemSupportTests", dependencies: ["SystemSupport", "TestSupport"]),
        .testTarget(name: "NixStoreTests", dependencies: ["NixStore", "TestSupport"]),
        .testTarget(name: "BinaryCacheTests", dependencies: ["BinaryCache", "TestSupport"]),
        .testTarget(name: "HookTests", dependencies: ["Hook", "TestSupport"]),
        .testTarget(name: "ReplicationTests", dependencies: ["Replication", "CZstd", "TestSupport"]),
        .testTarget(name: "TOMLTests", dependencies: ["TOML", "TestSupport"]),
        .testTarget(name: "NarsyncTests", dependencies: ["narsync", "NarsyncConfiguration", "BinaryCache", "TestSupport"]),
    ]
)

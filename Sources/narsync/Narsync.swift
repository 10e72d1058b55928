import ArgumentParser

@main
struct Narsync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "narsync",
        abstract: "Replicate a Nix store into a Nix binary cache as store paths appear.",
        discussion: """
            narsync reads new valid paths from the Nix database, publishes their closures \
            dependencies-first as signed, zstd-compressed NARs, and writes each narinfo last.
            """,
        version: "0.1.0",
        subcommands: [KeygenCommand.self]
    )
}

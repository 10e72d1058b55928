import ArgumentParser

/// Where the service keeps its state.
struct ServiceOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "Directory of narsync's manifest (and, by default, its cache and signing key).", valueName: "dir"))
    var stateDirectory = "/var/lib/narsync"
}

/// Store paths among `narsync backfill`'s arguments, taken out before swift-argument-parser
/// sees them.
///
/// swift-argument-parser 1.x parses a repeated argument in quadratic time (each value merges
/// the input origins of every value before it): 16,000 paths took 8 s here, and
/// `narsync backfill $(nix-store -qR /run/current-system)` passes thousands. Each argument that
/// starts with "/" and does not follow an option's name (where it could be that option's
/// value) is a store path: all but the first of them skip the parser and are added to the
/// parsed command's paths. The first stays, so that the command's own checks (paths or
/// `--all`, not both) see that paths were given.
enum BulkPathArguments {
    /// `arguments` (without the program name) with the bulk of their store paths taken out.
    static func split(_ arguments: [String]) -> (parsed: [String], paths: [String]) {
        var parsed: [String] = [], paths: [String] = []
        var afterTerminator = false
        var keptOne = false
        for (index, argument) in arguments.enumerated() {
            let previous = index > 0 ? arguments[index - 1] : ""
            let mayBeOptionValue = !afterTerminator && previous.hasPrefix("-") && previous != "--" && !previous.contains("=")
            if argument == "--" && !afterTerminator {
                afterTerminator = true
            } else if argument.hasPrefix("/") && !mayBeOptionValue {
                if keptOne {
                    paths.append(argument)
                    continue
                }
                keptOne = true
            }
            parsed.append(argument)
        }
        return (parsed, paths)
    }
}

/// Orders store paths so that every path comes after the paths it references.
///
/// Nix's reference graph is acyclic apart from self-references, which are ignored. Paths come
/// in waves (all paths whose references are placed), each wave sorted by store path, so the
/// result is deterministic and takes O(n log n).
public func dependencyOrder(_ infos: [StorePath: ValidPathInfo]) -> [ValidPathInfo] {
    var remainingDependencies: [StorePath: Int] = [:]
    var referrers: [StorePath: [StorePath]] = [:]
    for (path, info) in infos {
        let dependencies = info.dependencies.filter { infos[$0] != nil }
        remainingDependencies[path] = dependencies.count
        for dependency in dependencies { referrers[dependency, default: []].append(path) }
    }
    var ordered: [ValidPathInfo] = []
    ordered.reserveCapacity(infos.count)
    var wave = infos.keys.filter { remainingDependencies[$0] == 0 }
    while !wave.isEmpty {
        wave.sort()
        var nextWave: [StorePath] = []
        for path in wave {
            ordered.append(infos[path]!)
            for referrer in referrers[path] ?? [] {
                remainingDependencies[referrer]! -= 1
                if remainingDependencies[referrer] == 0 { nextWave.append(referrer) }
            }
        }
        wave = nextWave
    }
    // A cycle cannot come from Nix; should a corrupt database hold one, its paths go last
    // rather than vanish, and the publisher's reference check keeps their narinfos back.
    if ordered.count < infos.count {
        let placed = Set(ordered.map(\.path))
        ordered.append(contentsOf: infos.values.filter { !placed.contains($0.path) }.sorted { $0.path < $1.path })
    }
    return ordered
}

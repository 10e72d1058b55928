/// Orders store paths so that every path comes after the paths it references.
///
/// Nix's reference graph is acyclic apart from self-references, which are ignored. Paths come
/// in waves (all paths whose references are placed), each wave sorted by store path, so the
/// result is deterministic and takes O(n log n).
public func dependencyOrder(_ infos: [StorePath: ValidPathInfo]) -> [ValidPathInfo] {
    dependencyOrder(Array(infos.values))
}

/// The same for paths given as an array (each path once), e.g. the whole store: the array is
/// reordered in place, and the graph is kept as integer indices, so ordering 100,000 paths needs
/// a few MiB besides the paths themselves rather than dictionaries of them.
public func dependencyOrder(_ infos: consuming [ValidPathInfo]) -> [ValidPathInfo] {
    let count = infos.count
    var index: [StorePath: Int32] = [:]
    index.reserveCapacity(count)
    for position in infos.indices { index[infos[position].path] = Int32(position) }
    // Each path's referrers among `infos`, as one flat array sliced by `firstReferrer`.
    var remainingDependencies = [Int32](repeating: 0, count: count)
    var firstReferrer = [Int32](repeating: 0, count: count + 1)
    for position in infos.indices {
        for dependency in infos[position].dependencies {
            guard let dependency = index[dependency] else { continue }
            remainingDependencies[position] += 1
            firstReferrer[Int(dependency) + 1] += 1
        }
    }
    for position in 0..<count { firstReferrer[position + 1] += firstReferrer[position] }
    var referrers = [Int32](repeating: 0, count: Int(firstReferrer[count]))
    var filled = firstReferrer
    for position in infos.indices {
        for dependency in infos[position].dependencies {
            guard let dependency = index[dependency].map(Int.init) else { continue }
            referrers[Int(filled[dependency])] = Int32(position)
            filled[dependency] += 1
        }
    }
    index = [:]

    var order: [Int32] = []
    order.reserveCapacity(count)
    let paths = infos.map(\.path)
    let byPath: (Int32, Int32) -> Bool = { paths[Int($0)] < paths[Int($1)] }
    var wave = (0..<Int32(count)).filter { remainingDependencies[Int($0)] == 0 }
    while !wave.isEmpty {
        wave.sort(by: byPath)
        var nextWave: [Int32] = []
        for position in wave {
            order.append(position)
            for referrer in referrers[Int(firstReferrer[Int(position)])..<Int(firstReferrer[Int(position) + 1])] {
                remainingDependencies[Int(referrer)] -= 1
                if remainingDependencies[Int(referrer)] == 0 { nextWave.append(referrer) }
            }
        }
        wave = nextWave
    }
    // A cycle cannot come from Nix; should a corrupt database hold one, its paths go last
    // rather than vanish, and the publisher's reference check keeps their narinfos back.
    if order.count < count {
        var placed = [Bool](repeating: false, count: count)
        for position in order { placed[Int(position)] = true }
        order += (0..<Int32(count)).filter { !placed[Int($0)] }.sorted(by: byPath)
    }
    // Gather in place, cycle by cycle: position k takes the path at order[k].
    var done = [Bool](repeating: false, count: count)
    for start in 0..<count where !done[start] {
        var position = start
        while true {
            done[position] = true
            let source = Int(order[position])
            if source == start { break }
            infos.swapAt(position, source)
            position = source
        }
    }
    return infos
}

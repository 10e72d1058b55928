import Testing
@testable import NixStore

@Suite struct ClosureOrderTests {
    /// A made-up store of `count` paths, each referencing up to three earlier ones (and, for
    /// some, itself), listed in a shuffled order.
    private func store(_ count: Int, seed: UInt64) -> [ValidPathInfo] {
        var generator = SplitMix(seed)
        let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz")
        let paths = (0..<count).map { index in
            try! StorePath(baseName: String((0..<32).map { _ in alphabet[Int(generator.next() % 32)] }) + "-p\(index)")
        }
        var infos = paths.enumerated().map { index, path in
            var references = (0..<Int(generator.next() % 4)).compactMap { _ in index == 0 ? nil : paths[Int(generator.next() % UInt64(index))] }
            if index % 10 == 0 { references.append(path) }
            return ValidPathInfo(id: Int64(index + 1), path: path, narHash: NixHash(SHA256Hasher.hash([UInt8(index % 256)])),
                                 narSize: 1, references: Array(Set(references)).sorted())
        }
        infos.shuffle(using: &generator)
        return infos
    }

    @Test func theArrayAndTheDictionaryGiveTheSameOrderReferencesFirst() {
        let infos = store(2000, seed: 5)
        let ordered = dependencyOrder(infos)
        #expect(ordered == dependencyOrder(Dictionary(uniqueKeysWithValues: infos.map { ($0.path, $0) })))
        #expect(Set(ordered) == Set(infos))
        var placed = Set<StorePath>()
        for info in ordered {
            #expect(info.dependencies.allSatisfy(placed.contains), "\(info.path) before one of its references")
            placed.insert(info.path)
        }
    }

    @Test func aCycleFromACorruptDatabaseGoesLastInsteadOfVanishing() throws {
        var infos = store(50, seed: 9)
        let (first, second) = (infos.firstIndex { $0.id == 3 }!, infos.firstIndex { $0.id == 4 }!)
        infos[first].references.append(infos[second].path)
        infos[second].references.append(infos[first].path)
        let ordered = dependencyOrder(infos)
        #expect(ordered.count == infos.count && Set(ordered.map(\.id)) == Set(infos.map(\.id)))
        // Paths come references first up to the cycle; the cycle and its referrers, which can
        // never be placed so, follow sorted by path.
        var placed = Set<StorePath>()
        let tailStart = ordered.firstIndex { info in
            defer { placed.insert(info.path) }
            return !info.dependencies.allSatisfy(placed.contains)
        } ?? ordered.endIndex
        let tail = ordered[tailStart...]
        #expect(Set(tail.map(\.id)).isSuperset(of: [3, 4]))
        #expect(tail.map(\.path) == tail.map(\.path).sorted())
    }
}

/// A small deterministic generator, so that a failure can be replayed.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

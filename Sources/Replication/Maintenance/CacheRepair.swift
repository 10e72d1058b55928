import BinaryCache
import Foundation
import Logging
import NixStore
import SystemSupport

/// What `narsync verify --repair` does about a report: publish again what the local store
/// has, remove what it cannot mend together with everything that depends on it.
public struct RepairPlan: Sendable {
    /// Paths to publish again from the local store, references first (broken ones, missing
    /// references, and what of their closures the cache lacks).
    public var republish: [ValidPathInfo]
    /// Narinfos to remove, layer by layer, referrers before references: those the local store
    /// cannot mend and every narinfo that depends on them, transitively.
    public var removals: [[CachedNarInfo]]
    /// For each removed narinfo's key, why.
    public var reasons: [String: String]

    public var isEmpty: Bool { republish.isEmpty && removals.isEmpty }
}

public enum RepairPlanner {
    /// Plans the repair of `report`'s problems. `localInfo` gives what the local store holds
    /// (nil for a path it does not have); `localClosure` the valid closure of paths.
    public static func plan(
        _ report: CacheReport,
        localInfo: (StorePath) throws -> ValidPathInfo?,
        localClosure: ([StorePath]) throws -> [StorePath: ValidPathInfo]
    ) throws -> RepairPlan {
        var byHash: [String: CachedNarInfo] = [:]
        for entry in report.entries { byHash[entry.hashPart] = entry }
        // Every store path the cache names, by hash part, to find a malformed narinfo's path.
        var named: [String: StorePath] = [:]
        for entry in report.entries {
            guard let narInfo = entry.narInfo else { continue }
            named[String(narInfo.storePath.hashPart)] = narInfo.storePath
            for reference in narInfo.references { named[String(reference.hashPart)] = reference }
        }
        // Hash parts to mend: broken narinfos and missing references.
        var broken: [String: String] = [:]
        for problem in report.problems {
            let hash = problem.kind == .missingReference ? problem.missingHash! : String(problem.key.dropLast(CacheKeys.narInfoSuffix.count))
            broken[hash, default: problem.line] = broken[hash] ?? problem.line
        }
        var mendable: [StorePath] = [], unmendable: [String: String] = [:]
        for (hash, reason) in broken.sorted(by: { $0.key < $1.key }) {
            if let path = named[hash], try localInfo(path) != nil { mendable.append(path) } else { unmendable[hash] = reason }
        }
        // Everything depending on what cannot be mended goes too.
        var referrers: [String: [String]] = [:]
        for entry in report.entries {
            for reference in entry.narInfo?.references ?? [] where String(reference.hashPart) != entry.hashPart {
                referrers[String(reference.hashPart), default: []].append(entry.hashPart)
            }
        }
        var removed: [String: String] = [:], pending = Array(unmendable.keys)
        for (hash, reason) in unmendable where byHash[hash] != nil {
            removed[hash] = "the local store cannot mend it (\(reason))"
        }
        var visited = Set<String>()
        while let hash = pending.popLast() {
            guard visited.insert(hash).inserted else { continue }
            for referrer in referrers[hash] ?? [] where removed[referrer] == nil {
                let name = named[hash].map(\.baseName) ?? hash
                removed[referrer] = "it depends on \(name), which cannot be mended"
                pending.append(referrer)
            }
        }
        let removedEntries = removed.keys.compactMap { byHash[$0] }
        let layers = ReferrerOrder.layers(Dictionary(uniqueKeysWithValues: removedEntries.map { ($0.hashPart, $0) }))
        // Republish the mendable ones and what of their closures the cache lacks or has broken.
        let stillMendable = mendable.filter { removed[String($0.hashPart)] == nil }
        let closure = try localClosure(stillMendable)
        let todo = closure.filter { path, _ in
            let hash = String(path.hashPart)
            return byHash[hash] == nil || broken[hash] != nil
        }
        return RepairPlan(
            republish: dependencyOrder(todo), removals: layers,
            reasons: Dictionary(uniqueKeysWithValues: removed.compactMap { hash, reason in byHash[hash].map { ($0.object.key, reason) } }))
    }
}

/// Removes narinfos layer by layer (referrers first), so that the cache never names a
/// narinfo already gone.
public struct NarInfoRemover: Sendable {
    let destination: any CacheMaintenance
    let executor: BlockingExecutor
    let jobs: Int

    public init(destination: any CacheMaintenance, executor: BlockingExecutor, jobs: Int) {
        self.destination = destination
        self.executor = executor
        self.jobs = jobs
    }

    /// - Returns: one line per narinfo that could not be removed.
    public func remove(_ layers: [[CachedNarInfo]]) async -> [String] {
        var failures: [String] = []
        let destination = destination, executor = executor
        for layer in layers {
            let results = (try? await concurrentMap(layer, limit: jobs) { entry in
                await executor.run { () -> String? in
                    do {
                        try destination.delete(key: entry.object.key)
                        return nil
                    } catch {
                        return "cannot remove \(entry.object.key): \(error)"
                    }
                }
            }) ?? []
            failures += results.compactMap { $0 }
            // A referrer still there must keep its references: stop before removing them.
            if !failures.isEmpty { break }
        }
        return failures
    }
}

/// Orders narinfos for removal: layers where no narinfo is referenced by one of a later layer.
enum ReferrerOrder {
    /// Kahn's algorithm on the reference graph among `entries` (by hash part).
    static func layers(_ entries: [String: CachedNarInfo]) -> [[CachedNarInfo]] {
        func references(_ hash: String) -> Set<String> {
            Set(entries[hash]?.narInfo?.references.map { String($0.hashPart) } ?? []).subtracting([hash]).filter { entries[$0] != nil }
        }
        var referrerCount: [String: Int] = [:]
        for hash in entries.keys {
            for reference in references(hash) { referrerCount[reference, default: 0] += 1 }
        }
        var layer = entries.keys.filter { referrerCount[$0, default: 0] == 0 }.sorted()
        var layers: [[CachedNarInfo]] = []
        while !layer.isEmpty {
            layers.append(layer.map { entries[$0]! })
            var next: [String] = []
            for hash in layer {
                for reference in references(hash) {
                    let count = referrerCount[reference]! - 1
                    referrerCount[reference] = count
                    if count == 0 { next.append(reference) }
                }
            }
            layer = next.sorted()
        }
        return layers
    }
}

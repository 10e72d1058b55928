import BinaryCache
import Foundation
import NixStore

/// Decides what `narsync gc` removes from a cache, without I/O: the same inventory and
/// settings always give the same plan.
///
/// - **Kept**: every narinfo modified after the cutoff (published or renewed recently), every
///   path named in `keep`, and everything those reference, transitively, however old. A
///   malformed narinfo is kept (`verify` reports it): what it references cannot be known.
/// - **Removed narinfos** come in `narInfoLayers`: no narinfo of a layer is referenced by a
///   narinfo of a later layer, so that deleting layer by layer, referrers before references,
///   never leaves a narinfo naming one already gone.
/// - **Removed NARs**: those no kept narinfo names, modified before the grace cutoff, so that a
///   NAR another writer has uploaded but not yet announced survives.
/// - **Aborted uploads**: multipart uploads (temporary files) started before the grace cutoff.
public struct GarbageCollector: Sendable {
    public struct Settings: Sendable {
        /// Narinfos modified before this are old.
        public var cutoff: Date
        /// NARs and uploads modified before this may go.
        public var graceCutoff: Date
        /// Hash parts of paths kept whatever their age, with their closures.
        public var keep: Set<String>

        public init(cutoff: Date, graceCutoff: Date, keep: Set<String> = []) {
            self.cutoff = cutoff
            self.graceCutoff = graceCutoff
            self.keep = keep
        }
    }

    public let settings: Settings

    public init(settings: Settings) {
        self.settings = settings
    }

    public func plan(_ inventory: CacheInventory) -> GCPlan {
        var byHash: [String: CachedNarInfo] = [:]
        for entry in inventory.narInfos { byHash[entry.hashPart] = entry }
        let kept = keptClosure(byHash)
        let removed = byHash.filter { !kept.contains($0.key) }
        // Kept narinfos never refer to removed ones (the kept set is closed under references),
        // so the first layer holds the narinfos nothing in the cache refers to any more.
        let layers = ReferrerOrder.layers(removed)

        var namedByKept = Set<String>()
        for hash in kept { if let url = byHash[hash]?.narInfo?.url { namedByKept.insert(url) } }
        let nars = inventory.nars.values
            .filter { !namedByKept.contains($0.key) && $0.modified < settings.graceCutoff }
            .sorted { $0.key < $1.key }
        let uploads = inventory.incompleteUploads.filter { $0.started < settings.graceCutoff }.sorted { $0.key < $1.key }
        return GCPlan(
            narInfoLayers: layers, nars: nars, uploads: uploads, keptNarInfos: kept.count,
            keptNotInCache: settings.keep.subtracting(byHash.keys).count)
    }

    /// Hash parts of the kept narinfos: the young and the named, and their closures.
    private func keptClosure(_ byHash: [String: CachedNarInfo]) -> Set<String> {
        var kept = Set<String>()
        var pending = byHash.values.filter { entry in
            entry.narInfo == nil || entry.object.modified >= settings.cutoff || settings.keep.contains(entry.hashPart)
        }.map(\.hashPart)
        while let hash = pending.popLast() {
            guard kept.insert(hash).inserted, let narInfo = byHash[hash]?.narInfo else { continue }
            for reference in narInfo.references {
                let referenceHash = String(reference.hashPart)
                if byHash[referenceHash] != nil, !kept.contains(referenceHash) { pending.append(referenceHash) }
            }
        }
        return kept
    }
}

/// What a gc removes, in the order it removes it.
public struct GCPlan: Sendable {
    /// Narinfos to delete, layer by layer: referrers before their references.
    public var narInfoLayers: [[CachedNarInfo]]
    /// NAR objects no kept narinfo names, older than the grace period.
    public var nars: [StoredObject]
    /// Uploads left in flight for longer than the grace period.
    public var uploads: [IncompleteUpload]
    public var keptNarInfos: Int
    /// Paths given to keep that have no narinfo in the cache.
    public var keptNotInCache: Int

    public var narInfos: [CachedNarInfo] { narInfoLayers.flatMap { $0 } }
    public var narBytes: UInt64 { nars.reduce(0) { $0 + $1.size } }
    public var narInfoBytes: UInt64 { narInfos.reduce(0) { $0 + $1.object.size } }
    public var uploadBytes: UInt64 { uploads.reduce(0) { $0 + ($1.size ?? 0) } }
    public var isEmpty: Bool { narInfoLayers.isEmpty && nars.isEmpty && uploads.isEmpty }
}

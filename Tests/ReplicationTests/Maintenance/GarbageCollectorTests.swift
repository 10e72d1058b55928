import BinaryCache
import Foundation
import NixStore
@testable import Replication
import Testing
import TestSupport

/// The gc's planning core, without I/O: what is kept, what goes, and in which order.
@Suite struct GarbageCollectorTests {
    let now = Date()
    var old: Date { now.addingTimeInterval(-40 * 86_400) }
    var young: Date { now.addingTimeInterval(-3_600) }

    /// A made-up cache: narinfos by name, each with its references (by name) and age.
    struct Cache {
        var paths: [String: StorePath] = [:]
        var entries: [CachedNarInfo] = []
        var nars: [String: StoredObject] = [:]

        mutating func add(_ name: String, references: [String] = [], modified: Date) throws {
            let path = try StorePath(baseName: randomStorePathBaseName(name))
            paths[name] = path
            let url = "nar/\(name)-\(path.hashPart).nar.zst"
            let narInfo = NarInfo(
                storePath: path, url: url, compression: "zstd", fileHash: nil, fileSize: 10,
                narHash: NixHash(SHA256Hasher.hash(Array(name.utf8))), narSize: 10,
                references: references.map { paths[$0]! }, deriver: nil, signatures: [], ca: nil)
            entries.append(CachedNarInfo(object: StoredObject(key: "\(path.hashPart).narinfo", size: 300, modified: modified), contents: .success(narInfo)))
            nars[url] = StoredObject(key: url, size: 10, modified: modified)
        }

        func inventory(uploads: [IncompleteUpload] = [], extraNars: [StoredObject] = []) -> CacheInventory {
            var nars = nars
            for nar in extraNars { nars[nar.key] = nar }
            return CacheInventory(storeDirectory: .standard, narInfos: entries, nars: nars, incompleteUploads: uploads)
        }

        func names(_ entries: [CachedNarInfo]) -> Set<String> {
            Set(entries.compactMap { entry in paths.first { $0.value == entry.narInfo?.storePath }?.key })
        }

        func hash(_ name: String) -> String { String(paths[name]!.hashPart) }

        func url(_ name: String) -> String { "nar/\(name)-\(paths[name]!.hashPart).nar.zst" }
    }

    func settings(keep: Set<String> = []) -> GarbageCollector.Settings {
        GarbageCollector.Settings(cutoff: now.addingTimeInterval(-30 * 86_400), graceCutoff: now.addingTimeInterval(-86_400), keep: keep)
    }

    /// old-app -> old-lib -> shared; new-app -> shared; everything old except new-app.
    func twoClosures() throws -> Cache {
        var cache = Cache()
        try cache.add("shared", modified: old)
        try cache.add("old-lib", references: ["shared"], modified: old)
        try cache.add("old-app", references: ["old-lib", "shared"], modified: old)
        try cache.add("new-app", references: ["shared"], modified: young)
        return cache
    }

    @Test func oldOnlyPathsGoAndTheSharedOneStaysWithTheNewClosure() throws {
        let cache = try twoClosures()
        let plan = GarbageCollector(settings: settings()).plan(cache.inventory())
        #expect(cache.names(plan.narInfos) == ["old-app", "old-lib"])
        #expect(plan.keptNarInfos == 2)
        // Their NARs go too (old enough), the kept ones' stay.
        #expect(Set(plan.nars.map(\.key)) == Set(["old-app", "old-lib"].map(cache.url)))
    }

    @Test func referrersAreRemovedBeforeTheirReferences() throws {
        let cache = try twoClosures()
        let layers = GarbageCollector(settings: settings()).plan(cache.inventory()).narInfoLayers
        #expect(layers.map { cache.names($0) } == [["old-app"], ["old-lib"]])
    }

    @Test func aKeptPathKeepsItsWholeClosureHoweverOld() throws {
        let cache = try twoClosures()
        let plan = GarbageCollector(settings: settings(keep: [cache.hash("old-app")])).plan(cache.inventory())
        #expect(plan.narInfos.isEmpty)
        #expect(plan.keptNarInfos == 4)
    }

    @Test func anOldPathReferencedByAYoungOneIsKept() throws {
        var cache = Cache()
        try cache.add("deep", modified: old)
        try cache.add("middle", references: ["deep"], modified: old)
        try cache.add("top", references: ["middle"], modified: young)
        let plan = GarbageCollector(settings: settings()).plan(cache.inventory())
        #expect(plan.isEmpty)
    }

    @Test func unnamedNarsGoOnlyAfterTheGracePeriodAndSoDoUploads() throws {
        let cache = try twoClosures()
        let orphanOld = StoredObject(key: "nar/orphan-old.nar.zst", size: 1000, modified: old)
        let orphanNew = StoredObject(key: "nar/orphan-new.nar.zst", size: 1000, modified: now.addingTimeInterval(-600))
        let uploads = [
            IncompleteUpload(key: "nar/a.nar.zst", id: "stale", started: old),
            IncompleteUpload(key: "nar/b.nar.zst", id: "in-flight", started: now.addingTimeInterval(-60)),
        ]
        let plan = GarbageCollector(settings: settings(keep: [cache.hash("old-app")]))
            .plan(cache.inventory(uploads: uploads, extraNars: [orphanOld, orphanNew]))
        #expect(plan.nars.map(\.key) == ["nar/orphan-old.nar.zst"])
        #expect(plan.narBytes == 1000)
        #expect(plan.uploads.map(\.id) == ["stale"])
    }

    @Test func aMalformedNarInfoIsKeptAndItsHashCountsAsNotInCache() throws {
        var cache = try twoClosures()
        let broken = StoredObject(key: "\(String(repeating: "0", count: 32)).narinfo", size: 5, modified: old)
        let error = try #require(throws: NarInfoError.self) {
            try NarInfo(parsing: "garbage\n", storeDirectory: .standard, source: "test")
        }
        cache.entries.append(CachedNarInfo(object: broken, contents: .failure(error)))
        let plan = GarbageCollector(settings: settings()).plan(cache.inventory())
        #expect(!plan.narInfos.contains { $0.object.key == broken.key })
        #expect(cache.names(plan.narInfos) == ["old-app", "old-lib"])
    }

    @Test func aLongChainIsOrderedWithoutRecursion() throws {
        var cache = Cache()
        try cache.add("link-0", modified: old)
        for index in 1..<2_000 { try cache.add("link-\(index)", references: ["link-\(index - 1)"], modified: old) }
        let layers = GarbageCollector(settings: settings()).plan(cache.inventory()).narInfoLayers
        #expect(layers.count == 2_000)
        #expect(cache.names(layers.first!) == ["link-1999"])
        #expect(cache.names(layers.last!) == ["link-0"])
    }

    @Test func agesAreWrittenAsNixWritesThem() throws {
        #expect(try AgeDuration(parsing: "30d").seconds == 30 * 86_400)
        #expect(try AgeDuration(parsing: "12h").seconds == 12 * 3_600)
        #expect(try AgeDuration(parsing: "90m").seconds == 90 * 60)
        for bad in ["", "30", "d", "-1d", "3w", "1.5d"] {
            #expect(throws: AgeDurationError.self) { try AgeDuration(parsing: bad) }
        }
    }
}

import Testing
@testable import NixStore
@testable import Replication

/// The one planning step, without I/O: a closure in dependency order, less what the manifest
/// recorded and what the cache has.
@Suite struct PublishPlanTests {
    private func info(_ number: Int, _ references: [Int] = [], narSize: UInt64 = 10) -> ValidPathInfo {
        ValidPathInfo(id: Int64(number), path: storePath(number), narHash: NixHash(SHA256Hasher.hash([UInt8(number)])),
                      narSize: narSize, references: references.map { storePath($0) }.sorted())
    }

    /// 1 <- 2 <- 4, 1 <- 3 <- 4: a diamond.
    private var closure: [StorePath: ValidPathInfo] {
        Dictionary(uniqueKeysWithValues: [info(1), info(2, [1]), info(3, [1]), info(4, [2, 3, 4])].map { ($0.path, $0) })
    }

    @Test func everythingUnknownIsPublishedReferencesFirst() {
        let plan = PublishPlan(closure: closure)
        #expect(plan.toPublish.map(\.path) == [1, 2, 3, 4].map { storePath($0) }.sortedByWave())
        #expect(plan.toPublish.first?.path == storePath(1) && plan.toPublish.last?.path == storePath(4))
        #expect(plan.recorded.isEmpty && plan.cached.isEmpty)
        #expect(plan.narBytes == 40)
    }

    @Test func whatTheManifestRecordedIsLeftOutAndWhatTheCacheHasIsNotUploaded() {
        let plan = PublishPlan(closure: closure, recorded: [storePath(1), storePath(9)], cached: [storePath(3)])
        #expect(plan.toPublish.map(\.path) == [storePath(2), storePath(4)])
        // Only the closure's paths count as recorded.
        #expect(plan.recorded == [storePath(1)])
        #expect(plan.cached.map(\.path) == [storePath(3)])
        #expect(plan.cached.first?.narSize == 10)
        #expect(plan.narBytes == 20)
    }
}

private extension Array where Element == StorePath {
    /// 1 first, then 2 and 3 (one wave, sorted), then 4.
    func sortedByWave() -> [StorePath] { [self[0]] + self[1...2].sorted() + [self[3]] }
}

import Foundation
import Testing
import TestSupport

/// `narsync watch` renews the paths it meets again whose narinfo is old (`--refresh-after`),
/// and a following `narsync gc --older-than` keeps them.
@Suite struct AgeRefreshTests {
    @Test func aWatchThatMeetsAnOldCachedPathRenewsItAndGCKeepsIt() throws {
        let fixture = try CacheFixture()
        try fixture.backfill([fixture.closure.top])
        // A path from another machine's store, which this watch never meets.
        let otherStore = fixture.nix.makeStoreRoot("other-machine")
        let file = fixture.nix.directory.appending("forgotten")
        try "forgotten\n".write(toFile: file, atomically: true, encoding: .utf8)
        let forgotten = try fixture.nix.add(file, storeRoot: otherStore)
        let other = try fixture.narsync([
            "backfill", "--to", fixture.url, "--key-file", fixture.key.secretKeyFile, "--store-root", otherStore, forgotten,
        ])
        #expect(other.status == 0, "\(other.standardError)")
        try fixture.age(days: 40)

        // --initial-backfill meets every path of the store, all of them already cached.
        let state = fixture.nix.directory.appending("state")
        let watch = try BackgroundProcess(narsyncExecutable, [
            "watch", "--to", fixture.url, "--key-file", fixture.key.secretKeyFile, "--store-root", fixture.nix.storeRoot,
            "--state-dir", state, "--initial-backfill", "--hook-socket", "none", "--refresh-after", "7d",
        ], environment: fixture.nix.environment, logFile: fixture.nix.directory.appending("watch.log"))
        let recent = Date().addingTimeInterval(-3_600)
        func modified(_ path: String) -> Date {
            (try? FileManager.default.attributesOfItem(atPath: fixture.narInfoFile(path))[.modificationDate] as? Date) ?? .distantPast
        }
        #expect(eventually { modified(fixture.closure.top) > recent }, "\(watch.output)")
        #expect(watch.stop() == 0)
        #expect(watch.output.contains("renewed"), "\(watch.output)")
        #expect(modified(forgotten) < recent, "a path the watch never met keeps its age")

        let gc = try fixture.narsync(["gc", fixture.url, "--older-than", "30d", "--settle-seconds", "0"])
        #expect(gc.status == 0, "\(gc.standardError)")
        #expect(gc.standardOutput.contains("removed 1 narinfos"), "\(gc.standardOutput)")
        #expect(!fixture.hasNarInfo(forgotten))
        for path in fixture.closure.outputs.values { #expect(fixture.hasNarInfo(path), "\(path) was renewed with its closure") }
        try fixture.expectNixSubstitutes([fixture.closure.top])
    }
}

import Foundation
import Testing
import TestSupport

/// `narsync watch` remembers what it published; after a gc removed some of it, it must not
/// rely on that memory when a new path references a removed one.
@Suite struct WatchAfterGCTests {
    @Test func aNewPathReferencingOneTheGCRemovedBringsItBack() throws {
        let fixture = try CacheFixture()
        let state = fixture.nix.directory.appending("state")
        let watch = try BackgroundProcess(narsyncExecutable, [
            "watch", "--to", fixture.url, "--key-file", fixture.key.secretKeyFile, "--store-root", fixture.nix.storeRoot,
            "--state-dir", state, "--hook-socket", "none", "--recheck-seconds", "1",
        ], environment: fixture.nix.environment, logFile: fixture.nix.directory.appending("watch.log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        let old = try fixture.buildReferring(to: [], name: "published-then-collected")
        #expect(eventually { fixture.hasNarInfo(old) }, "\(watch.output)")

        try fixture.age(days: 40)
        let gc = try fixture.narsync(["gc", fixture.url, "--older-than", "30d", "--settle-seconds", "0"])
        #expect(gc.status == 0, "\(gc.standardError)")
        #expect(!fixture.hasNarInfo(old), "\(gc.standardOutput)")

        let new = try fixture.buildReferring(to: [old], name: "referring-to-the-collected-one")
        #expect(eventually { fixture.hasNarInfo(new) }, "\(watch.output)")
        #expect(fixture.hasNarInfo(old), "the watch published the removed reference again: \(watch.output)")
        #expect(watch.stop() == 0)
        let (status, _, output) = try fixture.verify()
        #expect(status == 0, "\(output)")
        try fixture.expectNixSubstitutes([new])
    }
}

import Foundation
import Testing
import TestSupport

/// `narsync gc` on a file:// cache and an S3 bucket (moto): closures sharing paths, kept
/// paths, dry runs, and a real Nix substituting what is left.
@Suite struct GCCommandTests {
    let fixture: CacheFixture
    /// The old closure's paths other than leaf-data, which the new closure shares.
    let oldOnly = ["top", "middle-a", "middle-b", "lonely", "leaf-tools"]

    init() throws {
        fixture = try CacheFixture()
    }

    private func gc(_ arguments: [String], url: String? = nil, environment: [String: String]? = nil) throws -> ProcessResult {
        try fixture.narsync(["gc", url ?? fixture.url, "--settle-seconds", "0"] + arguments, environment: environment)
    }

    /// The test closure published 40 days ago, and a new path referencing its leaf-data.
    private func oldAndNewClosures() throws -> String {
        try fixture.backfill([fixture.closure.top])
        try fixture.age(days: 40)
        let newApp = try fixture.buildReferring(to: [fixture.closure.outputs["leaf-data"]!], name: "new-app")
        try fixture.backfill([newApp])
        return newApp
    }

    @Test func theOldOnlyPathsGoWhileTheSharedOneAndTheNewClosureStay() throws {
        let newApp = try oldAndNewClosures()
        let result = try gc(["--older-than", "30d"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("removed 5 narinfos, 5 NARs, 0 uploads"), "\(result.standardOutput)")
        for name in oldOnly {
            #expect(!fixture.hasNarInfo(fixture.closure.outputs[name]!), "\(name) is old and unreferenced")
            #expect(result.standardOutput.contains("removed: \(fixture.closure.outputs[name]!)"))
        }
        #expect(fixture.hasNarInfo(fixture.closure.outputs["leaf-data"]!))
        #expect(fixture.hasNarInfo(newApp))
        let (status, report, output) = try fixture.verify(["--check-contents"])
        #expect(status == 0, "\(output)")
        #expect((report["orphanedNars"] as? [Any])?.isEmpty == true, "the removed paths' NARs are gone too")
        try fixture.expectNixSubstitutes([newApp])
    }

    @Test func aKeptPathKeepsItsWholeClosure() throws {
        _ = try oldAndNewClosures()
        let keepFile = fixture.nix.directory.appending("keep")
        try "# deployed\n\(fixture.closure.outputs["middle-a"]!)\n".write(toFile: keepFile, atomically: true, encoding: .utf8)
        let result = try gc(["--older-than", "30d", "--keep", fixture.closure.outputs["lonely"]!, "--keep-from", keepFile, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let summary = try JSONSerialization.jsonObject(with: Data(result.outputBytes)) as? [String: Any]
        let removed = Set(summary?["removedNarInfos"] as? [String] ?? [])
        #expect(removed == Set(["top", "middle-b"].map { narInfoName(of: fixture.closure.outputs[$0]!) }), "\(result.standardOutput)")
        for name in ["middle-a", "leaf-tools", "leaf-data", "lonely"] {
            #expect(fixture.hasNarInfo(fixture.closure.outputs[name]!), "\(name) is in a kept closure")
        }
        let (status, _, output) = try fixture.verify()
        #expect(status == 0, "\(output)")
        try fixture.expectNixSubstitutes([fixture.closure.outputs["middle-a"]!, fixture.closure.outputs["lonely"]!])
    }

    @Test func aDryRunDeletesNothingAndSaysWhatItWouldWithTheBytes() throws {
        _ = try oldAndNewClosures()
        let before = try fixture.snapshot()
        let result = try gc(["--older-than", "30d", "--dry-run"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try fixture.snapshot() == before)
        #expect(result.standardOutput.contains("would remove 5 narinfos, 5 NARs ("), "\(result.standardOutput)")
        for name in oldOnly { #expect(result.standardOutput.contains("would remove: \(fixture.closure.outputs[name]!)")) }
    }

    @Test func leftoverUploadsAndOrphanedNarsGoAfterTheGracePeriod() throws {
        try fixture.backfill([fixture.closure.top])
        let staleTemporary = "\(fixture.cache)/nar/.abc.nar.zst.tmp-1-2", freshTemporary = "\(fixture.cache)/nar/.def.nar.zst.tmp-1-3"
        let orphan = "\(fixture.cache)/nar/orphan.nar.zst"
        for file in [staleTemporary, freshTemporary, orphan] { try "partial".write(toFile: file, atomically: false, encoding: .utf8) }
        try fixture.age(days: 2, files: [staleTemporary, orphan])
        let result = try gc(["--older-than", "30d"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("removed 0 narinfos, 1 NARs, 1 uploads"), "\(result.standardOutput)")
        #expect(!FileManager.default.fileExists(atPath: staleTemporary) && !FileManager.default.fileExists(atPath: orphan))
        #expect(FileManager.default.fileExists(atPath: freshTemporary), "an upload younger than the grace period may still finish")
    }

    @Test func badInputExitsWithStatusTwo() throws {
        #expect(try gc(["--older-than", "30 days"]).status == 2)
        #expect(try gc([]).status == 2)
        #expect(try gc(["--older-than", "30d", "--keep", "/tmp/not-in-the-store"]).status == 2)
        #expect(try gc(["--older-than", "30d", "--keep-from", "/nonexistent/keep"]).status == 2)
    }

    @Test func aBucketIsCollectedAndNixSubstitutesWhatIsLeft() throws {
        let bucket = try NixAndBucket(bucketPrefix: "narsync-gc")
        let closure = try TestClosure.build(in: bucket.nix)
        let key = try bucket.nix.generateKey(name: "narsync-gc-s3-1")
        func narsync(_ arguments: [String]) throws -> ProcessResult {
            try Subprocess.run(narsyncExecutable, arguments, environment: bucket.environment)
        }
        func backfill(_ path: String) throws {
            let result = try narsync(["backfill", "--to", bucket.url(), "--key-file", key.secretKeyFile, "--store-root", bucket.nix.storeRoot, path])
            #expect(result.status == 0, "\(result.standardError)")
        }
        try backfill(closure.top)
        // S3 sets LastModified itself: the old closure is old by a few seconds.
        Thread.sleep(forTimeInterval: 5)
        let fixtureInBucket = CacheFixture(nix: bucket.nix, key: key)
        let newApp = try fixtureInBucket.buildReferring(to: [closure.outputs["leaf-data"]!], name: "new-app")
        try backfill(newApp)

        let dryRun = try narsync(["gc", bucket.url(), "--older-than", "4s", "--grace", "0s", "--dry-run"])
        #expect(dryRun.standardOutput.contains("would remove 5 narinfos, 5 NARs"), "\(dryRun.standardOutput) \(dryRun.standardError)")
        let result = try narsync(["gc", bucket.url(), "--older-than", "4s", "--grace", "0s", "--settle-seconds", "0"])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("removed 5 narinfos, 5 NARs"), "\(result.standardOutput)")
        let verify = try narsync(["verify", bucket.url(), "--check-contents", "--trusted-public-key", key.publicKey])
        #expect(verify.status == 0, "\(verify.standardOutput)")
        #expect(verify.standardOutput.contains("2 narinfos, 2 NAR objects"), "\(verify.standardOutput)")
        let (copy, check) = try bucket.substitute([newApp], trustedKey: key.publicKey)
        #expect(copy.status == 0, "\(copy.standardError)")
        #expect(check.status == 0, "\(check.standardError)")
    }
}

import Foundation
import Testing
import TestSupport

/// `narsync verify [--repair]` on a file:// cache written by narsync, damaged by hand, read
/// back by a real Nix.
@Suite struct VerifyCommandTests {
    let fixture: CacheFixture
    var closure: TestClosure { fixture.closure }

    init() throws {
        fixture = try CacheFixture()
        try fixture.backfill([fixture.closure.top])
    }

    @Test func aHealthyCacheIsClean() throws {
        let (status, report, output) = try fixture.verify(["--check-contents"])
        #expect(status == 0, "\(output)")
        #expect(report["healthy"] as? Bool == true)
        #expect(report["narInfos"] as? Int == 6 && report["narObjects"] as? Int == 6)
        #expect(CacheFixture.problems(report).isEmpty)
        let text = try fixture.narsync(["verify", fixture.url])
        #expect(text.status == 0 && text.standardOutput.contains("6 narinfos, 6 NAR objects"), "\(text.standardOutput)")
        #expect(text.standardOutput.contains("healthy"))
    }

    @Test func eachProblemMadeByHandIsFoundNamingThePath() throws {
        let out = closure.outputs
        // missing NAR, missing reference, unsigned, contents, malformed.
        try FileManager.default.removeItem(atPath: try fixture.narFile(out["lonely"]!))
        try FileManager.default.removeItem(atPath: fixture.narInfoFile(out["leaf-data"]!))
        let other = try fixture.nix.generateKey(name: "rotated-away-1")
        let otherSigned = try fixture.narsync([
            "backfill", "--to", "file://\(fixture.nix.directory.appending("other-cache"))", "--key-file", other.secretKeyFile,
            "--store-root", fixture.nix.storeRoot, out["leaf-tools"]!,
        ])
        #expect(otherSigned.status == 0)
        let otherSignature = try String(contentsOfFile: fixture.nix.directory.appending("other-cache/\(narInfoName(of: out["leaf-tools"]!))"), encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("Sig: ") }!.dropFirst(5)
        try fixture.rewrite(out["leaf-tools"]!, field: "Sig", to: String(otherSignature))
        // Truncated, with FileSize made to match, so that only the contents can tell.
        let nar = try fixture.narFile(out["middle-b"]!)
        let truncated = try Data(contentsOf: URL(fileURLWithPath: nar)).prefix(40)
        try truncated.write(to: URL(fileURLWithPath: nar))
        try fixture.rewrite(out["middle-b"]!, field: "FileSize", to: "\(truncated.count)")
        let malformed = "\(fixture.cache)/\(String(repeating: "1", count: 32)).narinfo"
        try "StorePath: /nix/store/\(String(repeating: "1", count: 32))-x\nNarSize: many\n".write(toFile: malformed, atomically: true, encoding: .utf8)

        let (status, report, output) = try fixture.verify(["--check-contents"])
        #expect(status == 1, "\(output)")
        #expect(CacheFixture.problems(report) == [
            "missing NAR: \(out["lonely"]!)",
            "missing reference: \(out["middle-a"]!)",
            "missing reference: \(out["middle-b"]!)",
            "unsigned: \(out["leaf-tools"]!)",
            "contents: \(out["middle-b"]!)",
            "malformed: \(String(repeating: "1", count: 32)).narinfo",
        ])
        let problems = report["problems"] as? [[String: Any]] ?? []
        let malformedDetail = problems.first { $0["kind"] as? String == "malformed" }?["detail"] as? String
        #expect(malformedDetail?.hasPrefix("line 2") == true, "\(problems)")
        #expect((report["problemCounts"] as? [String: Int])?["missing reference"] == 2)
        // The NAR of the removed narinfo is orphaned, reported as information.
        #expect((report["orphanedNars"] as? [[String: Any]])?.count == 1)

        let text = try fixture.narsync(["verify", fixture.url, "--trusted-public-key", fixture.key.publicKey])
        #expect(text.status == 1)
        #expect(text.standardOutput.contains("missing NAR: \(out["lonely"]!): nar/"), "\(text.standardOutput)")
        #expect(text.standardOutput.contains("missing reference: \(out["middle-a"]!): its reference \(out["leaf-data"]!) has no narinfo"))
    }

    @Test func repairMakesTheCacheCleanAndNixSubstitutesWithRequiredSignatures() throws {
        let out = closure.outputs
        try FileManager.default.removeItem(atPath: try fixture.narFile(out["lonely"]!))
        try FileManager.default.removeItem(atPath: fixture.narInfoFile(out["leaf-data"]!))
        try fixture.rewrite(out["leaf-tools"]!, field: "Sig", to: "someone-1:AAAA")

        let dryRun = try fixture.narsync(repair(["--dry-run"]))
        #expect(dryRun.status == 1, "\(dryRun.standardError)")
        #expect(dryRun.standardOutput.contains("would publish again: \(out["leaf-data"]!)"), "\(dryRun.standardOutput)")
        #expect(!fixture.hasNarInfo(out["leaf-data"]!), "a dry run writes nothing")

        let repaired = try fixture.narsync(repair())
        #expect(repaired.status == 0, "\(repaired.standardOutput) \(repaired.standardError)")
        #expect(repaired.standardOutput.contains("published again: \(out["lonely"]!)"), "\(repaired.standardOutput)")
        let (status, _, output) = try fixture.verify(["--check-contents"])
        #expect(status == 0, "\(output)")
        try fixture.expectNixSubstitutes([closure.top])
    }

    @Test func aPathTheLocalStoreNoLongerHasIsRemovedWithItsDependents() throws {
        let out = closure.outputs
        try FileManager.default.removeItem(atPath: try fixture.narFile(out["leaf-data"]!))
        // A store that has none of the closure: leaf-data cannot be mended.
        let otherStore = fixture.nix.makeStoreRoot("other-store")
        try "x".write(toFile: fixture.nix.directory.appending("seed-other"), atomically: true, encoding: .utf8)
        _ = try fixture.nix.add(fixture.nix.directory.appending("seed-other"), storeRoot: otherStore)

        let before = try fixture.snapshot()
        let dryRun = try fixture.narsync(repair(["--dry-run"], storeRoot: otherStore))
        #expect(dryRun.status == 1)
        #expect(try fixture.snapshot() == before, "a dry run deletes nothing")

        let repaired = try fixture.narsync(repair([], storeRoot: otherStore))
        #expect(repaired.status == 0, "\(repaired.standardOutput) \(repaired.standardError)")
        for name in ["leaf-data", "middle-a", "middle-b", "top"] {
            #expect(!fixture.hasNarInfo(out[name]!), "\(name) depends on leaf-data and must be removed")
            #expect(repaired.standardOutput.contains("removed: \(out[name]!)"), "\(repaired.standardOutput)")
        }
        for name in ["leaf-tools", "lonely"] { #expect(fixture.hasNarInfo(out[name]!), "\(name) must stay") }
        let (status, _, output) = try fixture.verify()
        #expect(status == 0, "\(output)")
        try fixture.expectNixSubstitutes([out["leaf-tools"]!, out["lonely"]!])
    }

    @Test func badInputExitsWithStatusTwoBeforeReading() throws {
        #expect(try fixture.narsync(["verify", fixture.url, "--trusted-public-key", "not-a-key"]).status == 2)
        #expect(try fixture.narsync(["verify", fixture.url, "--repair"]).status == 2)
        #expect(try fixture.narsync(["verify", "ftp://example.org/cache"]).status == 2)
        #expect(try fixture.narsync(["verify", fixture.url, "/tmp/not-a-store-path"]).status == 2)
    }

    @Test func anHTTPCacheIsVerifiedFromTheGivenPaths() throws {
        let server = try HTTPCacheServer(directory: fixture.cache)
        defer { server.stop() }
        try FileManager.default.removeItem(atPath: fixture.narInfoFile(closure.outputs["leaf-data"]!))
        let unlisted = try fixture.narsync(["verify", server.url])
        #expect(unlisted.status == 2, "\(unlisted.standardError)")
        #expect(unlisted.standardError.contains("--paths-from"))
        let (status, report, output) = try fixture.verify([closure.top], url: server.url)
        #expect(status == 1, "\(output)")
        #expect(CacheFixture.problems(report) == [
            "missing reference: \(closure.outputs["middle-a"]!)", "missing reference: \(closure.outputs["middle-b"]!)",
        ])
    }

    private func repair(_ extra: [String] = [], storeRoot: String? = nil) -> [String] {
        ["verify", fixture.url, "--repair", "--key-file", fixture.key.secretKeyFile, "--trusted-public-key", fixture.key.publicKey,
         "--store-root", storeRoot ?? fixture.nix.storeRoot] + extra
    }
}

/// `narsync verify --repair` on a bucket (moto): problems found from the listing, mended, and
/// a real Nix substitutes afterwards.
@Suite struct VerifyBucketTests {
    @Test func aBucketIsVerifiedAndRepaired() throws {
        let bucket = try NixAndBucket(bucketPrefix: "narsync-verify")
        let closure = try TestClosure.build(in: bucket.nix)
        let key = try bucket.nix.generateKey(name: "narsync-verify-s3-1")
        let fixture = CacheFixture(nix: bucket.nix, key: key)
        try fixture.backfill([closure.top], to: bucket.url(), environment: bucket.environment)
        let signed = try bucket.signedBucket()
        let lonelyNarInfo = String(decoding: try #require(try signed.read(key: narInfoName(of: closure.outputs["lonely"]!))), as: UTF8.self)
        let lonelyNar = String(lonelyNarInfo.split(separator: "\n").first { $0.hasPrefix("URL: ") }!.dropFirst(5))
        try signed.delete(key: lonelyNar)
        try signed.delete(key: narInfoName(of: closure.outputs["leaf-tools"]!))

        let (status, report, output) = try fixture.verify(url: bucket.url(), environment: bucket.environment)
        #expect(status == 1, "\(output)")
        #expect(CacheFixture.problems(report) == [
            "missing NAR: \(closure.outputs["lonely"]!)", "missing reference: \(closure.outputs["middle-a"]!)",
        ])
        let repair = try fixture.narsync([
            "verify", bucket.url(), "--repair", "--key-file", key.secretKeyFile, "--store-root", bucket.nix.storeRoot,
        ], environment: bucket.environment)
        #expect(repair.status == 0, "\(repair.standardOutput) \(repair.standardError)")
        let again = try fixture.verify(["--check-contents"], url: bucket.url(), environment: bucket.environment)
        #expect(again.status == 0, "\(again.output)")
        let (copy, check) = try bucket.substitute([closure.top], trustedKey: key.publicKey)
        #expect(copy.status == 0, "\(copy.standardError)")
        #expect(check.status == 0, "\(check.standardError)")
    }
}

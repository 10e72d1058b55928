import Foundation
import Testing
import TestSupport

/// A `narsync gc` running while two narsync writers publish into the same bucket (moto),
/// closures sharing old paths the gc would otherwise remove: a checker polling the bucket
/// never sees a narinfo whose NAR or references are missing, and everything the writers
/// published ends up whole (see README, "Several writers and gc").
@Suite(.serialized) struct GCAgainstWritersTests {
    @Test func aGCNeverBreaksWhatConcurrentWritersPublish() async throws {
        let bucket = try NixAndBucket(bucketPrefix: "narsync-gc-writers")
        let key = try bucket.nix.generateKey(name: "narsync-writers-1")
        let fixture = CacheFixture(nix: bucket.nix, key: key)
        // Old: a shared closure the writers' new paths reference, and many paths nobody does.
        let shared = try TestClosure.build(in: bucket.nix)
        let unreferenced = try (0..<60).map { index in
            let file = bucket.nix.directory.appending("old-\(index)-\(UUID().uuidString.prefix(8))")
            try "old \(index)\n".write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
        let oldOnly = try bucket.nix.run("nix-store", ["--store", bucket.nix.storeRoot, "--add"] + unreferenced).trimmedOutput
            .split(separator: "\n").map(String.init)
        // New: each writer publishes paths referencing different parts of the shared closure.
        let out = shared.outputs
        // (seconds after the gc starts, what the round's new path references). The gc lists the
        // cache once its 4 s settle is over: rounds before it make what they reference young;
        // rounds after it rely on old paths the gc has planned to remove, while it removes them.
        let plans: [[(at: Double, references: [String])]] = [
            [(0, ["lonely"]), (4.3, ["middle-b"]), (5.1, ["top"]), (5.9, ["leaf-data"])],
            [(0.3, ["lonely"]), (4.5, ["leaf-tools"]), (5.3, ["leaf-data", "middle-a"]), (6.1, ["top"])],
        ]
        let rounds = try plans.enumerated().map { writer, rounds in
            try rounds.enumerated().map { round, plan in
                (at: plan.at, root: try fixture.buildReferring(to: plan.references.map { out[$0]! }, name: "writer-\(writer)-round-\(round)"))
            }
        }
        try fixture.backfill([shared.top] + oldOnly, to: bucket.url(), environment: bucket.environment)
        // S3 sets LastModified itself: make the old paths a few seconds old.
        try await Task.sleep(for: .seconds(12))

        let checker = CacheInvariantChecker(.destination(try bucket.signedBucket()), narInfosMayBeDeleted: true)
        checker.start()
        let environment = bucket.environment, url = bucket.url(), storeRoot = bucket.nix.storeRoot
        let gc = Task {
            try await onThread {
                try Subprocess.run(narsyncExecutable, [
                    // The grace period, longer than a writer takes from uploading a NAR to
                    // announcing it (2 s of fence, more on a loaded machine), protects NARs not
                    // yet announced; the old ones are older than it when their turn comes.
                    "gc", url, "--older-than", "6s", "--grace", "8s", "--settle-seconds", "4", "--jobs", "2",
                ], environment: environment)
            }
        }
        let writers = rounds.map { roots in
            Task {
                var results: [ProcessResult] = []
                let start = ContinuousClock.now
                for (at, root) in roots {
                    try await Task.sleep(until: start + .milliseconds(Int(at * 1000)))
                    results.append(try await onThread {
                        try Subprocess.run(narsyncExecutable, [
                            "backfill", "--to", url, "--key-file", key.secretKeyFile, "--store-root", storeRoot,
                            "--gc-lease-recheck-seconds", "0.5", root,
                        ], environment: environment)
                    })
                }
                return results
            }
        }
        let gcResult = try await gc.value
        var writerResults: [ProcessResult] = []
        for writer in writers { writerResults += try await writer.value }
        checker.stop()

        #expect(gcResult.status == 0, "gc: \(gcResult.standardOutput) \(gcResult.standardError)")
        for result in writerResults { #expect(result.status == 0, "writer: \(result.standardOutput) \(result.standardError)") }
        #expect(checker.violations.isEmpty, "\(Set(checker.violations))")
        #expect(checker.passCount > 1)
        // The gc did remove what nobody referenced...
        let summary = gcResult.standardOutput
        #expect(summary.contains("removed "), "\(summary)")
        let signed = try bucket.signedBucket()
        for path in oldOnly { #expect(try !signed.exists(key: narInfoName(of: path)), "\(path) is old and unreferenced") }
        // ...and every path the writers published is whole: verify is clean and Nix substitutes.
        let allRoots = rounds.flatMap { $0.map(\.root) }
        let verify = try Subprocess.run(narsyncExecutable, ["verify", url, "--trusted-public-key", key.publicKey], environment: environment)
        #expect(verify.status == 0, "\(verify.standardOutput)")
        let (copy, check) = try bucket.substitute(allRoots, trustedKey: key.publicKey)
        #expect(copy.status == 0, "\(copy.standardError)")
        #expect(check.status == 0, "\(check.standardError)")
    }
}

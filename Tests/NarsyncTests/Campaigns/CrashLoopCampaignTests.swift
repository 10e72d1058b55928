@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// The crash-loop campaign (RELIABILITY.md): while a real Nix builds a stream of paths, small
/// ones and a few above the multipart threshold, `narsync watch` publishing to S3 (moto with
/// signature checking on, through a proxy that counts every request) is killed with SIGKILL
/// at random moments and started again. Then one last run finishes, and every built path must
/// be in the cache exactly once, a checker polling the bucket must never have seen a narinfo
/// without its NAR or references, no multipart upload may be left, and a real Nix must
/// substitute everything with signatures required. `NARSYNC_CAMPAIGN=full` runs 20 kills with
/// paths of 50-200 MiB; the default short run fits in CI.
@Suite(.serialized) struct CrashLoopCampaignTests {
    /// What the campaign builds and how often it kills.
    struct Plan {
        var kills: Int
        /// Sizes of the large paths, built among the small ones.
        var largeMiB: [Int]
        var smallBuilds: Int
        /// Builds of `TestClosure` (six outputs with references between them).
        var closures: Int
        /// A run lives a random time up to this before it is killed.
        var longestRun: Double
        var finishTimeout: Duration

        static func of(_ size: CampaignSize) -> Plan {
            switch size {
            case .short: Plan(kills: 4, largeMiB: [24], smallBuilds: 8, closures: 1, longestRun: 4, finishTimeout: .seconds(120))
            case .full: Plan(kills: 20, largeMiB: [50, 120, 200, 80], smallBuilds: 40, closures: 3, longestRun: 8, finishTimeout: .seconds(900))
            }
        }
    }

    /// One build of the stream.
    enum Build {
        case small(Int), large(Int, mebibytes: Int), closure(Int)
    }

    let s3: NixAndBucket
    let state: String

    init() throws {
        s3 = try NixAndBucket(bucketPrefix: "narsync-crash")
        state = s3.nix.directory.appending("state")
    }

    private var nix: NixEnvironment { s3.nix }

    private func startWatch(port: Int) throws -> BackgroundProcess {
        try BackgroundProcess(narsyncExecutable, [
            "watch", "--to", s3.url(port: port), "--store-root", nix.storeRoot, "--state-dir", state,
            "--hook-socket", "none", "--recheck-seconds", "2", "--retry-initial-seconds", "0.5",
            "--part-size-mib", "5", "--parts-in-flight", "4",
        ], environment: s3.environment, logFile: nix.directory.appending("watch-\(UUID().uuidString).log"))
    }

    private func status() throws -> [String: Any] { try s3.status(stateDirectory: state) }

    /// The stream of builds: small ones, with the large ones and the closures spread among them.
    private static func builds(_ plan: Plan) -> [Build] {
        var builds = (0..<plan.smallBuilds).map(Build.small)
        for (index, mebibytes) in plan.largeMiB.enumerated().reversed() {
            builds.insert(.large(index, mebibytes: mebibytes), at: 1 + index * builds.count / plan.largeMiB.count)
        }
        for index in (0..<plan.closures).reversed() {
            builds.insert(.closure(index), at: (index * 2 + 1) * builds.count / (plan.closures * 2 + 1))
        }
        return builds
    }

    /// Builds one entry of the stream with the real Nix; returns its outputs.
    private func build(_ build: Build, salt: String) throws -> [String] {
        switch build {
        case .small(let index):
            return try nix.build(shellDerivation(
                name: "small-\(index)", script: "mkdir -p $out/share; echo \(salt) > $out/share/id; seq 1 \(index * 997) > $out/share/numbers"))
        case .large(let index, let mebibytes):
            return try nix.build(shellDerivation(
                name: "large-\(index)-\(mebibytes)mib", script: "echo \(salt) > /dev/null; head -c \(mebibytes << 20) /dev/urandom > $out"))
        case .closure(let index):
            return Array(try TestClosure.build(in: nix, salt: "\(salt)-\(index)").outputs.values)
        }
    }

    @Test func killedAtRandomMomentsWatchPublishesEveryBuiltPathOnceAndNeverABrokenNarInfo() throws {
        let size = CampaignSize.current, plan = Plan.of(size)
        var random = CampaignRandom()
        let report = CampaignReport(campaign: "crash-loop", size: size, seed: random.seed)
        let proxy = try FaultProxy(upstreamPort: s3.server.port) { _, _, _ in nil }
        defer { proxy.stop() }
        let checker = CacheInvariantChecker(.destination(try s3.signedBucket()), recheckWholeNarInfos: false)
        checker.start()

        // The first run records the watermark; paths built from then on are its to publish.
        let first = try startWatch(port: proxy.port)
        #expect(eventually { first.output.contains("watching") }, "\(first.output)")
        let built = Locked<[String]>([])
        let salt = UUID().uuidString
        let builder = CampaignThread { [self] in
            for entry in Self.builds(plan) {
                let outputs = try build(entry, salt: salt)
                built.mutate { $0 += outputs }
            }
        }

        var logs: [String] = []
        var killedMidUpload = 0
        var watch = first
        for cycle in 1...plan.kills {
            let sentBefore = proxy.requests.count
            if cycle > 1 { watch = try startWatch(port: proxy.port) }
            if cycle % 2 == 0 {
                // Every other kill lands while parts are on their way, if a large upload runs.
                _ = eventually(timeout: .seconds(plan.longestRun)) {
                    proxy.requests.dropFirst(sentBefore).contains { $0.method == "PUT" && $0.target.contains("partNumber=") }
                }
                Thread.sleep(forTimeInterval: Double.random(in: 0...0.5, using: &random))
            } else {
                Thread.sleep(forTimeInterval: Double.random(in: 0.3...plan.longestRun, using: &random))
            }
            watch.stop(SIGKILL)
            logs.append(watch.output)
            if (try status()["uploadsInFlight"] as? Int ?? 0) > 0 { killedMidUpload += 1 }
        }
        try builder.join()

        // Every path the builds produced, with its closure (the outputs reference each other).
        let expected = try Set(built.value.flatMap { try nix.closure(of: $0) })
        let expectedNames = Set(expected.map(narInfoName(of:)))
        let bucket = try s3.signedBucket()
        let last = try startWatch(port: proxy.port)
        #expect(eventually { last.output.contains("watching") }, "\(last.output)")
        let deadline = ContinuousClock.now + plan.finishTimeout
        while ContinuousClock.now < deadline, !expectedNames.isSubset(of: (try? bucket.listKeys(suffix: ".narinfo")) ?? nil ?? []) {
            Thread.sleep(forTimeInterval: 0.5)
        }
        #expect(last.stop(SIGTERM) == 0)
        logs.append(last.output)
        checker.stop()

        let narInfos = try bucket.listKeys(suffix: ".narinfo") ?? []
        let nars = try bucket.listKeys(suffix: ".nar.zst") ?? []
        let leftUploads = try bucket.multipartUploads()
        let manifest = try status()
        let ledger = MultipartLedger(proxy.requests)
        let resumed = logs.joined().split(separator: "\n").filter { $0.contains("resumed a multipart upload") }
        let partsReused = resumed.compactMap { $0.firstMatch(of: /parts reused=(\d+)/).flatMap { Int($0.1) } }.reduce(0, +)
        let broken = Set(checker.violations.map { $0.prefix { $0 != ":" } })

        report.record("kills (SIGKILL)", plan.kills)
        report.record("kills with a multipart upload in flight", killedMidUpload)
        report.record("paths built", expected.count)
        report.record("large paths (MiB)", plan.largeMiB.map(String.init).joined(separator: ", "))
        report.record("paths published", narInfos.intersection(expectedNames).count)
        report.record("paths lost", expectedNames.subtracting(narInfos).count)
        report.record("extra narinfos", narInfos.subtracting(expectedNames).count)
        report.record("NAR objects", nars.count)
        report.record("broken narinfos seen by the checker", broken.count)
        report.record("checker passes", checker.passCount)
        report.record("requests through the proxy", proxy.requests.count)
        report.record("multipart uploads created", ledger.uploadsCreated)
        report.record("multipart uploads resumed", resumed.count)
        report.record("parts stored / reused after a restart", "\(ledger.partsStored) / \(partsReused)")
        report.record("duplicate parts (same upload and part number stored twice)", ledger.duplicateParts)
        report.record("multipart uploads left in the bucket", leftUploads.count)

        #expect(expectedNames.isSubset(of: narInfos), "lost: \(expectedNames.subtracting(narInfos)); \(last.output)")
        #expect(narInfos == expectedNames, "extra: \(narInfos.subtracting(expectedNames))")
        #expect(try nars == narKeys(of: narInfos, in: bucket), "NAR objects no narinfo points to, or narinfos without their NAR")
        #expect(checker.violations.isEmpty, "\(checker.violations)")
        #expect(leftUploads.isEmpty, "\(leftUploads)")
        #expect(manifest["queued"] as? Int == 0 && manifest["uploadsInFlight"] as? Int == 0, "\(manifest)")
        #expect(manifest["published"] as? Int == expected.count, "\(manifest)")

        // A real Nix substitutes all of it from the bucket, read anonymously, trusting our key only.
        let trustedKey = try String(contentsOfFile: "\(state)/signing-key.pub", encoding: .utf8)
        let (copy, verify) = try s3.substitute(Array(expected), trustedKey: trustedKey)
        #expect(copy.status == 0, "\(copy.standardError)")
        #expect(verify.status == 0, "\(verify.standardError)")
        report.record("substituted by Nix with require-sigs and verified", copy.status == 0 && verify.status == 0 ? "yes" : "NO")
        report.publish()
        report.attach("watch.log", logs.enumerated().map { "=== run \($0.offset + 1)\n\($0.element)" }.joined())
        report.attach("requests.log", proxy.requests.map { "\($0.index) \($0.method) \($0.target) \($0.status.map(String.init) ?? "-")\n" }.joined())
    }
}

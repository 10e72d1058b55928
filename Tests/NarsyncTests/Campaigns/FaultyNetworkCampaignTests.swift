@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// The faulty-network campaign (RELIABILITY.md): `narsync backfill`, then `narsync watch` while
/// a real Nix builds, publish to S3 (moto with signature checking on) through a proxy that
/// breaks a random sixth of the requests: 500 InternalError, 503 SlowDown with Retry-After,
/// connections cut in the middle of the request body, answers cut off, and stalls past
/// narsync's stall timeout (2 s here, so a stall costs seconds). Nothing may be lost or
/// corrupted: every path is in the cache, a checker polling the bucket never sees a narinfo
/// without its NAR or references, no multipart upload is left, and a real Nix substitutes
/// everything with signatures required and checks its contents. `NARSYNC_CAMPAIGN=full` sends
/// more than 1,000 requests; the default short run fits in CI.
@Suite(.serialized) struct FaultyNetworkCampaignTests {
    struct Plan {
        /// Small files added to the store and backfilled.
        var smallFiles: Int
        /// Sizes of the large paths backfilled (multipart uploads).
        var largeMiB: [Int]
        /// Builds of `TestClosure` backfilled (six outputs with references).
        var closures: Int
        /// Derivations a real Nix builds while `narsync watch` runs, and the large ones among them.
        var watchBuilds: Int
        var watchLargeMiB: [Int]

        static func of(_ size: CampaignSize) -> Plan {
            switch size {
            case .short: Plan(smallFiles: 50, largeMiB: [16], closures: 1, watchBuilds: 8, watchLargeMiB: [12])
            case .full: Plan(smallFiles: 400, largeMiB: [40, 60], closures: 2, watchBuilds: 40, watchLargeMiB: [30])
            }
        }
    }

    /// narsync's stall timeout in this campaign; a stall fault holds a request past it.
    static let stallTimeout = 2.0

    let s3: NixAndBucket
    let key: (secretKeyFile: String, publicKey: String)

    init() throws {
        s3 = try NixAndBucket(bucketPrefix: "narsync-faulty")
        key = try s3.nix.generateKey(name: "faulty-network-1")
    }

    private var nix: NixEnvironment { s3.nix }

    /// Options both commands publish with, through the proxy at `port`.
    private func publishing(port: Int) -> [String] {
        [
            "--to", s3.url(port: port), "--key-file", key.secretKeyFile, "--store-root", nix.storeRoot,
            "--part-size-mib", "5", "--stall-timeout-seconds", String(Self.stallTimeout),
        ]
    }

    /// A random sixth of the requests fail, in every way the campaign knows.
    private static func fault(_ random: inout CampaignRandom) -> FaultProxy.Fault? {
        switch Double.random(in: 0..<1, using: &random) {
        case ..<0.04: .status(500, code: "InternalError")
        case ..<0.08: .status(503, code: "SlowDown", retryAfter: 1)
        case ..<0.115: .dropRequest
        case ..<0.15: .cutResponse
        case ..<0.17: .delay(.milliseconds(Int((stallTimeout + 1.5) * 1000)))
        default: nil
        }
    }

    private static func kind(of fault: FaultProxy.Fault) -> String {
        switch fault {
        case .status(500, _, _): "500 InternalError"
        case .status(let status, let code, _): "\(status) \(code) with Retry-After"
        case .dropRequest: "connection cut mid-request"
        case .cutResponse: "answer cut off"
        case .delay: "stall past the timeout"
        }
    }

    /// Paths for the backfill: many small files in one `nix-store --add`, large random files,
    /// and closures a real Nix builds.
    private func backfillPaths(_ plan: Plan) throws -> [String] {
        let directory = nix.directory.appending("small")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let files = try (0..<plan.smallFiles).map { index in
            let file = "\(directory)/small-\(index)"
            try String(repeating: "\(index) \(UUID())\n", count: 1 + index % 50).write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
        var paths = try nix.run("nix-store", ["--store", nix.storeRoot, "--add"] + files).trimmedOutput.split(separator: "\n").map(String.init)
        for (index, mebibytes) in plan.largeMiB.enumerated() {
            paths += try nix.build(shellDerivation(name: "backfill-large-\(index)", script: "head -c \(mebibytes << 20) /dev/urandom > $out"))
        }
        for _ in 0..<plan.closures { paths += try TestClosure.build(in: nix).outputs.values }
        return paths
    }

    @Test func backfillAndWatchThroughAFaultyNetworkLoseAndCorruptNothing() throws {
        let size = CampaignSize.current, plan = Plan.of(size)
        let random = Locked(CampaignRandom())
        let report = CampaignReport(campaign: "faulty-network", size: size, seed: random.value.seed)
        let proxy = try FaultProxy(upstreamPort: s3.server.port) { _, _, _ in
            var fault: FaultProxy.Fault?
            random.mutate { fault = Self.fault(&$0) }
            return fault
        }
        defer { proxy.stop() }
        let checker = CacheInvariantChecker(.destination(try s3.signedBucket()), recheckWholeNarInfos: false)
        checker.start()

        // Backfill.
        let backfilled = try backfillPaths(plan)
        let metricsFile = nix.directory.appending("backfill.prom")
        let backfillStart = ContinuousClock.now
        let backfill = try Subprocess.run(
            narsyncExecutable, ["backfill", "--metrics-file", metricsFile] + publishing(port: proxy.port) + backfilled,
            environment: s3.environment)
        let backfillTime = ContinuousClock.now - backfillStart
        let backfillRequests = proxy.requests.count
        #expect(backfill.status == 0, "\(backfill.standardOutput)\(backfill.standardError)")
        let summary = backfill.standardOutput + backfill.standardError
        let transfers = summary.firstMatch(of: /requests: (\d+), retries (\d+)/)
        let backfillRetries = transfers.flatMap { Int($0.2) } ?? -1

        // Watch, while a real Nix builds.
        let metricsPort = try unusedLoopbackPort()
        let watchStart = ContinuousClock.now
        let watch = try BackgroundProcess(narsyncExecutable, [
            "watch", "--state-dir", nix.directory.appending("state"), "--hook-socket", "none", "--recheck-seconds", "2",
            "--retry-initial-seconds", "0.5", "--metrics-listen", "127.0.0.1:\(metricsPort)",
        ] + publishing(port: proxy.port), environment: s3.environment, logFile: nix.directory.appending("watch.log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        var built: [String] = []
        let largeAt = Dictionary(uniqueKeysWithValues: plan.watchLargeMiB.enumerated().map {
            (($0.offset + 1) * plan.watchBuilds / (plan.watchLargeMiB.count + 1), $0.element)
        })
        for index in 0..<plan.watchBuilds {
            built += try nix.build(shellDerivation(name: "watched-\(index)", script: "mkdir $out; seq 1 \(index * 1009) > $out/numbers"))
            if let mebibytes = largeAt[index] {
                built += try nix.build(shellDerivation(name: "watched-large-\(index)", script: "head -c \(mebibytes << 20) /dev/urandom > $out"))
            }
        }
        let watched = try Set(built.flatMap { try nix.closure(of: $0) })
        let bucket = try s3.signedBucket()
        let watchedNames = Set(watched.map(narInfoName(of:)))
        #expect(eventually(timeout: .seconds(size == .full ? 600 : 120)) {
            watchedNames.isSubset(of: (try? bucket.listKeys(suffix: ".narinfo")) ?? nil ?? [])
        }, "\(watch.output)")
        // The counters are sampled every 2 s.
        Thread.sleep(forTimeInterval: 2.5)
        let scrape = MetricsScrape.read(port: metricsPort)
        // No sample yet means no retry yet; no scrape at all is reported as -1.
        let watchRetries = scrape.map { Int($0.value("narsync_request_retries_total") ?? 0) } ?? -1
        #expect(watch.stop(SIGTERM) == 0, "\(watch.output)")
        let watchTime = ContinuousClock.now - watchStart
        checker.stop()

        // What the cache holds.
        let expected = try Set(backfilled.flatMap { try nix.closure(of: $0) }).union(watched)
        let expectedNames = Set(expected.map(narInfoName(of:)))
        let narInfos = try bucket.listKeys(suffix: ".narinfo") ?? []
        let nars = try bucket.listKeys(suffix: ".nar.zst") ?? []
        let leftUploads = try bucket.multipartUploads()
        // What a left upload costs is its parts. One whose creation answer curl never gave
        // narsync (RELIABILITY.md, "Faulty network") holds none: a bucket lifecycle rule ends it.
        let leftHoldingParts = try leftUploads.filter { try (bucket.storedPartCount(key: $0.key, uploadID: $0.uploadID) ?? 0) > 0 }
        let requests = proxy.requests
        let faults = requests.compactMap(\.fault)
        let faultsByKind = Dictionary(grouping: faults, by: Self.kind(of:)).mapValues(\.count)

        report.record("paths published by backfill / by watch", "\(backfilled.count) / \(watched.count)")
        report.record("paths lost", expectedNames.subtracting(narInfos).count)
        report.record("extra narinfos", narInfos.subtracting(expectedNames).count)
        report.record("broken narinfos seen by the checker", Set(checker.violations.map { $0.prefix { $0 != ":" } }).count)
        report.record("requests through the proxy (backfill / watch)", "\(requests.count) (\(backfillRequests) / \(requests.count - backfillRequests))")
        report.record("faults injected", faults.count)
        for (kind, count) in faultsByKind.sorted(by: { $0.key < $1.key }) { report.record("- \(kind)", count) }
        report.record("retries reported by backfill (summary) / watch (metrics)", "\(backfillRetries) / \(watchRetries)")
        report.record("backfill time (s)", String(format: "%.1f", backfillTime.timeInterval))
        report.record("watch time, builds included (s)", String(format: "%.1f", watchTime.timeInterval))
        report.record("multipart uploads left in the bucket (holding parts)", "\(leftUploads.count) (\(leftHoldingParts.count))")

        #expect(narInfos == expectedNames, "lost: \(expectedNames.subtracting(narInfos)), extra: \(narInfos.subtracting(expectedNames))")
        #expect(try nars == narKeys(of: narInfos, in: bucket), "NAR objects no narinfo points to, or narinfos without their NAR")
        #expect(checker.violations.isEmpty, "\(checker.violations)")
        #expect(leftHoldingParts.isEmpty, "\(leftHoldingParts)")
        // Every fault but a cut request (which curl may resend on its own) cost narsync a retry.
        let needingRetry = faults.filter { $0 != .dropRequest }.count
        #expect(backfillRetries + watchRetries >= needingRetry, "\(faultsByKind)")
        #expect(Set(faultsByKind.keys).count == 5, "\(faultsByKind)")

        // A real Nix substitutes all of it, trusting our key only, and checks every byte.
        let (copy, verify) = try s3.substitute(Array(expected), trustedKey: key.publicKey)
        #expect(copy.status == 0, "\(copy.standardError)")
        #expect(verify.status == 0, "\(verify.standardError)")
        report.record("substituted by Nix with require-sigs and verified", copy.status == 0 && verify.status == 0 ? "yes" : "NO")
        report.publish()
    }
}

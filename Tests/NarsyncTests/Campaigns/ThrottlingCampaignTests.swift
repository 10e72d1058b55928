@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// The throttling campaign (RELIABILITY.md): `narsync backfill` of many small paths to S3
/// (moto, signature checking on) through a proxy that answers bursts of requests with 503
/// SlowDown, then 429 Too Many Requests, as a busy S3 prefix or Backblaze B2 does. narsync's
/// limit on requests in flight must drop at each burst and grow back to its ceiling after
/// (seen in its log lines and its metrics), and nothing may be lost: every path in the cache,
/// and a checker polling the bucket never sees a narinfo without its NAR or references.
/// `NARSYNC_CAMPAIGN=full` backfills 1,000 paths through three bursts.
@Suite(.serialized) struct ThrottlingCampaignTests {
    struct Plan {
        var smallFiles: Int
        /// When the proxy answers every request with a throttling fault, and for how long.
        var bursts: [FaultProxy.Burst]

        static func of(_ size: CampaignSize) -> Plan {
            let slowDown = FaultProxy.Fault.status(503, code: "SlowDown")
            let tooMany = FaultProxy.Fault.status(429, code: "TooManyRequests", retryAfter: 1)
            return switch size {
            case .short:
                Plan(smallFiles: 160, bursts: [
                    .init(fromRequest: 40, lasting: .milliseconds(1500), fault: slowDown),
                    .init(fromRequest: 220, lasting: .seconds(1), fault: tooMany),
                ])
            case .full:
                Plan(smallFiles: 1000, bursts: [
                    .init(fromRequest: 100, lasting: .seconds(3), fault: slowDown),
                    .init(fromRequest: 800, lasting: .seconds(2), fault: tooMany),
                    .init(fromRequest: 1500, lasting: .seconds(3), fault: slowDown),
                ])
            }
        }
    }

    /// What narsync's log says about its limit: each change, in order.
    struct LimitChange: Equatable {
        var status: Int?
        var to: Int
    }

    static func limitChanges(in log: String) -> [LimitChange] {
        log.split(separator: "\n").compactMap { line in
            if let match = line.firstMatch(of: /throttles \(HTTP (\d+)\): requests in flight limited to (\d+)/) {
                return LimitChange(status: Int(match.1), to: Int(match.2)!)
            }
            if let match = line.firstMatch(of: /no longer throttles: requests in flight back to (\d+)/) {
                return LimitChange(status: nil, to: Int(match.1)!)
            }
            return nil
        }
    }

    /// How long the same backfill takes into a fresh bucket through a proxy that throttles nothing.
    private func unthrottledTime(_ s3: NixAndBucket, _ key: (secretKeyFile: String, publicKey: String), _ paths: [String]) throws -> Duration {
        let proxy = try FaultProxy(upstreamPort: s3.server.port) { _, _, _ in nil }
        defer { proxy.stop() }
        let bucket = "\(s3.bucket)-calm"
        try S3Destination(url: s3.url().replacingOccurrences(of: s3.bucket, with: bucket), options: DestinationOptions(environment: s3.environment))
            .createBucket()
        let start = ContinuousClock.now
        let backfill = try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", s3.url(port: proxy.port).replacingOccurrences(of: s3.bucket, with: bucket),
            "--key-file", key.secretKeyFile, "--store-root", s3.nix.storeRoot,
        ] + paths, environment: s3.environment)
        #expect(backfill.status == 0, "\(backfill.standardError)")
        return ContinuousClock.now - start
    }

    @Test func backfillThroughBurstsOfThrottlingSlowsDownRecoversAndLosesNothing() throws {
        let size = CampaignSize.current, plan = Plan.of(size)
        let report = CampaignReport(campaign: "throttling", size: size, seed: 0)
        let s3 = try NixAndBucket(bucketPrefix: "narsync-throttled")
        let key = try s3.nix.generateKey(name: "throttling-1")
        let proxy = try FaultProxy(upstreamPort: s3.server.port, plan: FaultProxy.bursts(plan.bursts))
        defer { proxy.stop() }
        let checker = CacheInvariantChecker(.destination(try s3.signedBucket()), recheckWholeNarInfos: false)
        checker.start()

        let directory = s3.nix.directory.appending("small")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let files = try (0..<plan.smallFiles).map { index in
            let file = "\(directory)/throttled-\(index)"
            try String(repeating: "\(index) \(UUID())\n", count: 1 + index % 40).write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
        let paths = try s3.nix.run("nix-store", ["--store", s3.nix.storeRoot, "--add"] + files).trimmedOutput
            .split(separator: "\n").map(String.init)

        let metricsFile = s3.nix.directory.appending("backfill.prom")
        let start = ContinuousClock.now
        let backfill = try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", s3.url(port: proxy.port), "--key-file", key.secretKeyFile, "--store-root", s3.nix.storeRoot,
            "--metrics-file", metricsFile,
        ] + paths, environment: s3.environment)
        let elapsed = ContinuousClock.now - start
        checker.stop()
        let log = backfill.standardOutput + backfill.standardError
        #expect(backfill.status == 0, "\(log)")

        // The limit: down at each burst, back to the ceiling (--jobs 4 + --parts-in-flight 4) after.
        let ceiling = 8
        let changes = Self.limitChanges(in: log)
        let decreases = changes.filter { $0.status != nil }
        #expect(Set(decreases.compactMap(\.status)) == Set(plan.bursts.map { burst -> Int in
            if case .status(let status, _, _) = burst.fault { return status } else { return 0 }
        }), "\(changes)")
        #expect(decreases.contains { $0.to <= ceiling / 4 }, "the limit never went below \(ceiling / 4): \(changes)")
        #expect(changes.last == LimitChange(status: nil, to: ceiling), "the limit did not grow back: \(changes)")
        let metrics = MetricsScrape(text: (try? String(contentsOfFile: metricsFile, encoding: .utf8)) ?? "")
        let throttledAnswers = proxy.requests.filter { $0.fault != nil && $0.status != nil }.count
        #expect(metrics.value("narsync_requests_in_flight_limit") == Double(ceiling), "\(metrics.text)")
        #expect(metrics.value("narsync_requests_throttled_total") == Double(throttledAnswers), "\(metrics.text)")

        // Nothing lost, nothing broken.
        let bucket = try s3.signedBucket()
        let expected = Set(try paths.flatMap { try s3.nix.closure(of: $0) }.map(narInfoName(of:)))
        let narInfos = try bucket.listKeys(suffix: ".narinfo") ?? []
        #expect(narInfos == expected, "lost: \(expected.subtracting(narInfos))")
        #expect(try bucket.listKeys(suffix: ".nar.zst") == narKeys(of: narInfos, in: bucket))
        #expect(checker.violations.isEmpty, "\(checker.violations)")

        report.record("paths backfilled", paths.count)
        report.record("paths lost", expected.subtracting(narInfos).count)
        report.record("broken narinfos seen by the checker", checker.violations.count)
        report.record("requests through the proxy", proxy.requests.count)
        let bursts = plan.bursts.map { "\($0.lasting) from request \($0.fromRequest)" }.joined(separator: ", ")
        report.record("throttling answers (bursts)", "\(throttledAnswers) (\(bursts))")
        report.record("limit changes logged (ceiling \(ceiling))", changes.map { "\($0.status.map { "\($0)→" } ?? "")\($0.to)" }.joined(separator: " "))
        report.record("lowest limit", changes.map(\.to).min() ?? ceiling)
        report.record("most requests in flight at the proxy", proxy.maxConcurrentRequests)
        report.record("backfill time (s)", String(format: "%.1f", elapsed.timeInterval))
        report.record("the same backfill unthrottled, into another bucket (s)", String(format: "%.1f", try unthrottledTime(s3, key, paths).timeInterval))
        report.publish()
        print("throttling campaign: \(paths.count) paths backfilled through \(throttledAnswers) throttling answers in \(String(format: "%.1f", elapsed.timeInterval)) s")
    }
}

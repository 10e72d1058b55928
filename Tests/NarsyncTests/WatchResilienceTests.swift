@testable import BinaryCache
import Foundation
import Synchronization
import Testing
import TestSupport

/// `narsync watch` publishing to a real S3 server (moto with signature checking on, and Ceph's
/// RGW) through what a service meets: kill -9 in a large upload, an outage of the cache, a path
/// deleted while queued, SIGTERM mid-upload, uploads left behind. Read back by a real Nix.
@Suite(.serialized) struct WatchResilienceTests {
    @Test(arguments: S3Backend.tested) func aLargeUploadKilledMidwayResumesWithTheStoredPartsAndNixSubstitutesIt(_ backend: S3Backend) throws {
        try WatchResilience(backend).aLargeUploadKilledMidwayResumesWithTheStoredPartsAndNixSubstitutesIt()
    }

    @Test(arguments: S3Backend.tested) func aCheckerPollingTheBucketNeverSeesANarInfoBeforeWhatItNeeds(_ backend: S3Backend) throws {
        try WatchResilience(backend).aCheckerPollingTheBucketNeverSeesANarInfoBeforeWhatItNeeds()
    }

    @Test(arguments: S3Backend.tested) func anOutageKeepsPathsQueuedWithBackoffAndTheyGoOutOnceTheCacheIsBack(_ backend: S3Backend) throws {
        try WatchResilience(backend).anOutageKeepsPathsQueuedWithBackoffAndTheyGoOutOnceTheCacheIsBack()
    }

    @Test(arguments: S3Backend.tested) func aQueuedPathDeletedFromTheStoreIsDroppedWithoutWedgingTheQueue(_ backend: S3Backend) throws {
        try WatchResilience(backend).aQueuedPathDeletedFromTheStoreIsDroppedWithoutWedgingTheQueue()
    }

    @Test(arguments: S3Backend.tested) func aPathDeletedWhileItsNarIsReadIsDroppedWithNothingPublishedAndPublishedOnceAddedAgain(_ backend: S3Backend) throws {
        try WatchResilience(backend).aPathDeletedWhileItsNarIsReadIsDroppedWithNothingPublishedAndPublishedOnceAddedAgain()
    }

    @Test(arguments: S3Backend.tested) func sigtermLetsTheUploadInFlightFinishWithinTheGracePeriod(_ backend: S3Backend) throws {
        try WatchResilience(backend).sigtermLetsTheUploadInFlightFinishWithinTheGracePeriod()
    }

    @Test(arguments: S3Backend.tested) func sigtermPastTheGracePeriodExitsAndTheNextStartResumes(_ backend: S3Backend) throws {
        try WatchResilience(backend).sigtermPastTheGracePeriodExitsAndTheNextStartResumes()
    }

    @Test(arguments: S3Backend.tested) func uploadsLeftForLongerThanTheLimitAreAbortedAtStart(_ backend: S3Backend) throws {
        try WatchResilience(backend).uploadsLeftForLongerThanTheLimitAreAbortedAtStart()
    }
}

/// The scenarios of `WatchResilienceTests`, each on a fresh Nix store and bucket.
struct WatchResilience {
    let s3: NixAndBucket
    let state: String

    init(_ backend: S3Backend) throws {
        s3 = try NixAndBucket(backend)
        state = s3.nix.directory.appending("state")
    }

    // MARK: - Harness

    private var nix: NixEnvironment { s3.nix }
    private var server: S3Server { s3.server }
    private var environment: [String: String] { s3.environment }
    private func url(port: Int? = nil) -> String { s3.url(port: port) }
    private func signedBucket() throws -> S3Destination { try s3.signedBucket() }

    private func startWatch(port: Int? = nil, _ extra: [String] = []) throws -> BackgroundProcess {
        let watch = try BackgroundProcess(narsyncExecutable, [
            "watch", "--to", url(port: port), "--store-root", nix.storeRoot, "--state-dir", state,
            "--recheck-seconds", "2", "--retry-initial-seconds", "0.5",
            // Not the machine-wide /run/narsync/hook.sock, which another suite may be using.
            "--hook-socket", "none",
        ] + extra, environment: environment, logFile: nix.directory.appending("watch-\(UUID().uuidString).log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        return watch
    }

    private func isPublished(_ storePath: String, in bucket: S3Destination) -> Bool {
        (try? bucket.exists(key: "\(narInfoName(of: storePath))")) ?? false
    }


    /// The destination's entry of `narsync status --json`.
    private func status() throws -> [String: Any] { try s3.status(stateDirectory: state) }

    private static func isPartUpload(_ request: FaultProxy.Request) -> Bool {
        request.method == "PUT" && request.target.contains("partNumber=")
    }

    /// A real Nix substitutes `paths` from the bucket, read anonymously as a public cache is.
    private func expectSubstitutable(_ paths: [String]) throws {
        let trustedKey = try String(contentsOfFile: "\(state)/signing-key.pub", encoding: .utf8)
        let (copy, verify) = try s3.substitute(paths, trustedKey: trustedKey)
        #expect(copy.status == 0, "\(copy.standardError)")
        #expect(verify.status == 0, "\(verify.standardError)")
    }

    // MARK: - Scenarios

    func aLargeUploadKilledMidwayResumesWithTheStoredPartsAndNixSubstitutesIt() throws {
        let slow = Flag(true)
        let proxy = try FaultProxy(upstreamPort: server.port) { _, method, target in
            slow.isSet && method == "PUT" && target.contains("partNumber=") ? .delay(.milliseconds(400)) : nil
        }
        defer { proxy.stop() }
        let partOptions = ["--part-size-mib", "8", "--parts-in-flight", "1"]
        let first = try startWatch(port: proxy.port, partOptions)
        let large = try nix.addRandomFile(mebibytes: 64)
        // One part in flight at a time: when the fourth is sent, three are stored and recorded.
        #expect(eventually(timeout: .seconds(60)) { proxy.requests.filter(Self.isPartUpload).count >= 4 }, "\(first.output)")
        first.stop(SIGKILL)
        #expect(try status()["uploadsInFlight"] as? Int == 1)

        slow.isSet = false
        let sentBeforeRestart = proxy.requests.count
        let second = try startWatch(port: proxy.port, partOptions)
        let bucket = try signedBucket()
        #expect(eventually(timeout: .seconds(60)) { isPublished(large, in: bucket) }, "\(second.output)")
        #expect(second.stop() == 0)

        let narInfo = String(decoding: try bucket.read(key: "\(narInfoName(of: large))") ?? [], as: UTF8.self)
        let fileSize = narInfo.split(separator: "\n").first { $0.hasPrefix("FileSize: ") }.flatMap { Int($0.dropFirst(10)) } ?? 0
        let totalParts = (fileSize + (8 << 20) - 1) / (8 << 20)
        // Parts stored, not attempts: moto sometimes answers 500 to a part while the killed
        // run's last part, held by the proxy, reaches it late, and narsync rightly retries.
        let sentAfterRestart = proxy.requests.dropFirst(sentBeforeRestart).filter { Self.isPartUpload($0) && $0.status == 200 }.count
        #expect(totalParts == 9, "\(narInfo)")
        #expect(sentAfterRestart > 0 && sentAfterRestart <= totalParts - 3, "sent \(sentAfterRestart) of \(totalParts) parts")
        // The parts the first run stored count as sent: the object is whole.
        let resumed = second.output.split(separator: "\n").first { $0.contains("resumed a multipart upload") } ?? ""
        let reused = resumed.firstMatch(of: /parts reused=(\d+)/).flatMap { Int($0.1) } ?? 0
        #expect(reused >= 3 && reused + sentAfterRestart == totalParts, "\(second.output)")
        #expect(try status()["uploadsInFlight"] as? Int == 0)
        #expect(try bucket.multipartUploads().isEmpty)
        try expectSubstitutable([large])
    }

    func aCheckerPollingTheBucketNeverSeesANarInfoBeforeWhatItNeeds() throws {
        let watch = try startWatch()
        let checker = CacheInvariantChecker(.destination(try signedBucket()))
        checker.start()
        let closure = try TestClosure.build(in: nix)
        let bucket = try signedBucket()
        for output in closure.outputs.values {
            #expect(eventually(timeout: .seconds(40)) { isPublished(output, in: bucket) }, "\(output): \(watch.output)")
        }
        checker.stop()
        #expect(checker.violations.isEmpty, "\(checker.violations)")
        #expect(checker.narInfosSeen == closure.outputs.count)
        #expect(watch.stop() == 0)
    }

    func anOutageKeepsPathsQueuedWithBackoffAndTheyGoOutOnceTheCacheIsBack() throws {
        let down = Flag(true)
        let proxy = try FaultProxy(upstreamPort: server.port) { _, _, _ in
            down.isSet ? .status(503, code: "ServiceUnavailable") : nil
        }
        defer { proxy.stop() }
        let watch = try startWatch(port: proxy.port, ["--request-attempts", "2"])
        let paths = [try nix.addUniqueFile(named: "first"), try nix.addUniqueFile(named: "second")]

        // Failed at least twice each: retried, and waiting longer after each failure.
        #expect(eventually(timeout: .seconds(40)) {
            let errors = (try? status()["recentErrors"] as? [[String: Any]]) ?? []
            return errors.count == 2 && errors.allSatisfy { ($0["attempts"] as? Int ?? 0) >= 2 }
        }, "\(watch.output)")
        let waiting = try status()
        #expect(waiting["queued"] as? Int == 2 && waiting["retrying"] as? Int == 2, "\(waiting)")
        #expect(watch.output.contains("cannot reach the cache"))
        #expect(watch.output.contains("503"))
        let bucket = try signedBucket()
        #expect(!paths.contains { isPublished($0, in: bucket) })

        down.isSet = false
        for path in paths { #expect(eventually(timeout: .seconds(40)) { isPublished(path, in: bucket) }, "\(watch.output)") }
        #expect(watch.stop() == 0)
        let recovered = try status()
        #expect(recovered["queued"] as? Int == 0 && recovered["published"] as? Int == 2, "\(recovered)")
        try expectSubstitutable(paths)
    }

    func aQueuedPathDeletedFromTheStoreIsDroppedWithoutWedgingTheQueue() throws {
        let down = Flag(true)
        let proxy = try FaultProxy(upstreamPort: server.port) { _, _, _ in
            down.isSet ? .status(503, code: "ServiceUnavailable") : nil
        }
        defer { proxy.stop() }
        let watch = try startWatch(port: proxy.port, ["--request-attempts", "2"])
        let doomed = try nix.addUniqueFile(named: "doomed"), kept = try nix.addUniqueFile(named: "kept")
        #expect(eventually(timeout: .seconds(40)) { (try? status()["retrying"] as? Int) == 2 }, "\(watch.output)")

        try nix.run("nix-store", ["--store", nix.storeRoot, "--delete", doomed])
        down.isSet = false
        let bucket = try signedBucket()
        // Both, before stopping: which comes first depends on the retry schedule (and, under
        // ThreadSanitizer, on its slowdown).
        #expect(eventually(timeout: .seconds(40)) {
            isPublished(kept, in: bucket) && watch.output.contains("dropped from the queue")
        }, "\(watch.output)")
        #expect(watch.stop() == 0)

        #expect(!isPublished(doomed, in: bucket))
        let drops = watch.output.split(separator: "\n").filter { $0.contains("dropped from the queue") }
        #expect(drops.count == 1 && drops.first?.contains(doomed) == true, "\(watch.output)")
        let afterwards = try status()
        #expect(afterwards["queued"] as? Int == 0 && afterwards["published"] as? Int == 1, "\(afterwards)")
        let dropped = afterwards["recentDrops"] as? [[String: Any]] ?? []
        #expect(dropped.count == 1 && dropped.first?["path"] as? String == String(doomed.dropFirst("/nix/store/".count)), "\(afterwards)")
    }

    /// Storage faults campaign: `nix-store --delete` while the NAR is being read (the upload is
    /// slowed, so the walk is half-way): the path is dropped as gone, not failed, and nothing of
    /// it is published; added again, it is published, resuming the parts already stored.
    func aPathDeletedWhileItsNarIsReadIsDroppedWithNothingPublishedAndPublishedOnceAddedAgain() throws {
        let slow = Flag(true)
        let proxy = try FaultProxy(upstreamPort: server.port) { _, method, target in
            slow.isSet && method == "PUT" && target.contains("partNumber=") ? .delay(.seconds(1)) : nil
        }
        defer { proxy.stop() }
        let watch = try startWatch(port: proxy.port, ["--part-size-mib", "5", "--parts-in-flight", "1"])
        // Several files, so the walk still has files to open when the path goes.
        let tree = nix.directory.appending("tree")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try Subprocess.checked("/bin/sh", ["-c", "for i in 1 2 3 4 5 6; do head -c 4194304 /dev/urandom > '\(tree)'/part-$i; done"])
        let path = try nix.add(tree)
        #expect(eventually(timeout: .seconds(40)) { proxy.requests.contains(where: Self.isPartUpload) }, "\(watch.output)")
        try nix.run("nix-store", ["--store", nix.storeRoot, "--delete", path])
        slow.isSet = false

        let bucket = try signedBucket()
        #expect(eventually(timeout: .seconds(40)) { (try? status()["recentDrops"] as? [[String: Any]])?.isEmpty == false }, "\(watch.output)")
        #expect(watch.output.contains("skipped: no longer in the store"), "\(watch.output)")
        // Gone, not failed: no error line, no retry.
        #expect(!watch.output.split(separator: "\n").contains { $0.contains(path) && $0.contains("error") }, "\(watch.output)")
        #expect(watch.process.isRunning)
        #expect(!isPublished(path, in: bucket))
        #expect(try bucket.listKeys(suffix: ".nar.zst")?.isEmpty == true)
        // The parts stored so far stay recorded: the same NAR, if the path comes back, resumes
        // them; if it never does, the start after --abort-uploads-after-hours aborts them.
        let dropped = try status()
        #expect(dropped["queued"] as? Int == 0 && dropped["retrying"] as? Int == 0, "\(dropped)")
        let partsLeft = try bucket.multipartUploads().count
        #expect(dropped["uploadsInFlight"] as? Int == 1 && partsLeft == 1, "\(dropped)")

        // The same contents make the same path, registered again: published in full.
        #expect(try nix.add(tree) == path)
        #expect(eventually(timeout: .seconds(40)) { isPublished(path, in: bucket) }, "\(watch.output)")
        #expect(watch.stop() == 0)
        #expect(watch.output.contains("resumed a multipart upload"), "\(watch.output)")
        #expect(try bucket.multipartUploads().isEmpty)
        #expect(try status()["uploadsInFlight"] as? Int == 0)
        try expectSubstitutable([path])
    }

    func sigtermLetsTheUploadInFlightFinishWithinTheGracePeriod() throws {
        let proxy = try FaultProxy(upstreamPort: server.port) { _, method, target in
            method == "PUT" && target.contains("partNumber=") ? .delay(.milliseconds(600)) : nil
        }
        defer { proxy.stop() }
        let watch = try startWatch(port: proxy.port, ["--part-size-mib", "5", "--parts-in-flight", "1", "--grace-seconds", "60"])
        let path = try nix.addRandomFile(mebibytes: 16)
        #expect(eventually(timeout: .seconds(40)) { proxy.requests.contains(where: Self.isPartUpload) }, "\(watch.output)")
        #expect(watch.stop(SIGTERM) == 0)
        #expect(watch.output.contains("stopping: letting uploads in flight finish"), "\(watch.output)")
        #expect(isPublished(path, in: try signedBucket()), "\(watch.output)")
        let afterwards = try status()
        #expect(afterwards["queued"] as? Int == 0 && afterwards["uploadsInFlight"] as? Int == 0, "\(afterwards)")
    }

    func sigtermPastTheGracePeriodExitsAndTheNextStartResumes() throws {
        let slow = Flag(true)
        let proxy = try FaultProxy(upstreamPort: server.port) { _, method, target in
            slow.isSet && method == "PUT" && target.contains("partNumber=") ? .delay(.seconds(2)) : nil
        }
        defer { proxy.stop() }
        let partOptions = ["--part-size-mib", "5", "--parts-in-flight", "1"]
        let first = try startWatch(port: proxy.port, partOptions + ["--grace-seconds", "1"])
        let path = try nix.addRandomFile(mebibytes: 16)
        #expect(eventually(timeout: .seconds(40)) { proxy.requests.filter(Self.isPartUpload).count >= 2 }, "\(first.output)")
        let stopping = ContinuousClock.now
        #expect(first.stop(SIGTERM) == 0)
        let bucket = try signedBucket()
        #expect(ContinuousClock.now - stopping < Duration.seconds(20).scaled)
        #expect(first.output.contains("grace period over"), "\(first.output)")
        #expect(!isPublished(path, in: bucket))
        let interrupted = try status()
        #expect(interrupted["queued"] as? Int == 1 && interrupted["uploadsInFlight"] as? Int == 1, "\(interrupted)")

        slow.isSet = false
        let second = try startWatch(port: proxy.port, partOptions)
        #expect(eventually(timeout: .seconds(40)) { isPublished(path, in: bucket) }, "\(second.output)")
        #expect(second.stop() == 0)
        #expect(second.output.contains("resumed a multipart upload"), "\(second.output)")
    }

    func uploadsLeftForLongerThanTheLimitAreAbortedAtStart() throws {
        let slow = Flag(true)
        let proxy = try FaultProxy(upstreamPort: server.port) { _, method, target in
            slow.isSet && method == "PUT" && target.contains("partNumber=") ? .delay(.milliseconds(400)) : nil
        }
        defer { proxy.stop() }
        let partOptions = ["--part-size-mib", "5", "--parts-in-flight", "1"]
        let first = try startWatch(port: proxy.port, partOptions)
        let path = try nix.addRandomFile(mebibytes: 16)
        #expect(eventually(timeout: .seconds(40)) { proxy.requests.filter(Self.isPartUpload).count >= 3 }, "\(first.output)")
        first.stop(SIGKILL)
        let bucket = try signedBucket()
        let left = try bucket.multipartUploads()
        #expect(left.count == 1)

        slow.isSet = false
        let sentBeforeRestart = proxy.requests.count
        // Every upload recorded before this start counts as stale.
        let second = try startWatch(port: proxy.port, partOptions + ["--abort-uploads-after-hours", "0"])
        #expect(second.output.contains("aborted a stale multipart upload"), "\(second.output)")
        #expect(eventually(timeout: .seconds(40)) { isPublished(path, in: bucket) }, "\(second.output)")
        #expect(second.stop() == 0)
        #expect(!second.output.contains("resumed a multipart upload"))
        // The upload started again from its first part, and nothing is left in the bucket.
        let sentAfterRestart = proxy.requests.dropFirst(sentBeforeRestart).filter(Self.isPartUpload)
        let firstPart = sentAfterRestart.first?.target ?? ""
        #expect(firstPart.contains("partNumber=1&") || firstPart.hasSuffix("partNumber=1"), "\(sentAfterRestart.map(\.target))")
        #expect(proxy.requests.dropFirst(sentBeforeRestart).contains { $0.method == "DELETE" && $0.target.contains("uploadId=") })
        #expect(try bucket.multipartUploads().isEmpty)
        #expect(try status()["uploadsInFlight"] as? Int == 0)
    }
}

/// A switch a fault proxy's plan reads while the test flips it.
private final class Flag: Sendable {
    private let value: Atomic<Bool>
    init(_ initial: Bool) { value = Atomic(initial) }
    var isSet: Bool {
        get { value.load(ordering: .relaxed) }
        set { value.store(newValue, ordering: .relaxed) }
    }
}

@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// One `narsync watch` publishing to the several `[[destination]]` tables of config.toml, each
/// with its own filters, and each with its own watermark and queue in the one manifest.
@Suite struct SeveralDestinationsTests {
    @Test func eachDestinationGetsThePathsItsFiltersAccept() throws {
        let nix = try NixEnvironment()
        // The store must exist before narsync can watch its database.
        try nix.createStore()
        let (state, one, two) = (nix.directory.appending("state"), nix.directory.appending("one"), nix.directory.appending("two"))
        let config = nix.directory.appending("config.toml")
        try """
            state-dir = "\(state)"
            [store]
            root = "\(nix.storeRoot)"
            [hook]
            socket = "none"
            [watch]
            recheck-seconds = 2
            [[destination]]
            url = "file://\(one)"
            include = ["kept-*"]
            [[destination]]
            url = "file://\(two)"
            exclude = ["kept-*"]
            jobs = 2
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let watch = try BackgroundProcess(narsyncExecutable, ["watch", "--config", config],
                                          environment: nix.environment, logFile: nix.directory.appending("watch.log"))
        #expect(eventually { watch.output.components(separatedBy: "watching").count == 3 }, "\(watch.output)")

        let add = { (name: String) throws -> String in
            try name.write(toFile: nix.directory.appending(name), atomically: true, encoding: .utf8)
            return try nix.add(nix.directory.appending(name))
        }
        let kept = try add("kept-file"), other = try add("other-file")
        let published = { (cache: String, path: String) in
            FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: path))")
        }
        #expect(eventually { published(one, kept) && published(two, other) }, "\(watch.output)")
        #expect(!published(one, other) && !published(two, kept))
        #expect(watch.stop(SIGTERM) == 0)

        let status = try Subprocess.run(narsyncExecutable, ["status", "--state-dir", state, "--store-root", nix.storeRoot])
        #expect(status.status == 0, "\(status.standardError)")
        #expect(status.standardOutput.contains(one) && status.standardOutput.contains(two), "\(status.standardOutput)")
    }

    /// A bucket is known by its endpoint too: `cache` on two S3 servers is two destinations,
    /// each with its own watermark, queue and published set, so one server's outage holds back
    /// only its own paths.
    @Test func oneBucketNameOnTwoEndpointsIsTwoDestinations() throws {
        let nix = try NixEnvironment()
        try nix.createStore()
        let (east, west) = (try MotoServer(), try MotoServer())
        let down = Locked(true)
        // West's answers, while it is down: refused, as S3 does when it is unavailable.
        let westProxy = try FaultProxy(upstreamPort: west.port) { _, _, _ in
            down.value ? .status(503, code: "ServiceUnavailable") : nil
        }
        defer { westProxy.stop() }
        // moto checks no signatures; narsync signs with whatever credentials it finds.
        var environment = nix.environment
        (environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"]) = ("narsync-test", "not-checked")
        let url = { (port: Int) in "s3://cache?endpoint=127.0.0.1:\(port)&scheme=http&region=us-east-1" }
        let bucket = { (port: Int) in try S3Destination(url: url(port), options: DestinationOptions(environment: environment)) }
        try bucket(east.port).createBucket()
        try bucket(west.port).createBucket()

        let state = nix.directory.appending("state"), config = nix.directory.appending("config.toml")
        try """
            state-dir = "\(state)"
            [store]
            root = "\(nix.storeRoot)"
            [hook]
            socket = "none"
            [watch]
            recheck-seconds = 2
            retry-initial-seconds = 0.5
            [[destination]]
            url = "\(url(east.port))"
            [[destination]]
            url = "\(url(westProxy.port))"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let watch = try BackgroundProcess(narsyncExecutable, ["watch", "--config", config, "--request-attempts", "2"],
                                          environment: environment, logFile: nix.directory.appending("watch.log"))
        #expect(eventually { watch.output.components(separatedBy: "watching").count == 3 }, "\(watch.output)")

        let status = { () throws -> [String: [String: Any]] in
            let result = try Subprocess.checked(narsyncExecutable, ["status", "--json", "--state-dir", state, "--store-root", nix.storeRoot])
            let json = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
            let entries = (json?["destinations"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? [String: Any] }
            return Dictionary(entries.map { ($0["destination"] as? String ?? "", $0) }) { first, _ in first }
        }
        let eastName = try DestinationIdentity(parsing: url(east.port)).url
        let westName = try DestinationIdentity(parsing: url(westProxy.port)).url
        let published = { (port: Int, path: String) in (try? bucket(port).exists(key: narInfoName(of: path))) ?? false }

        // While west is down, east publishes; west keeps the path queued, failing and retried.
        let path = try nix.addUniqueFile(named: "both")
        #expect(eventually(timeout: .seconds(40)) { published(east.port, path) }, "\(watch.output)")
        #expect(eventually(timeout: .seconds(40)) { (try? status()[westName]?["retrying"] as? Int) == 1 }, "\(watch.output)")
        let whileDown = try status()
        #expect(Set(whileDown.keys) == [eastName, westName], "\(whileDown)")
        #expect(whileDown[eastName]?["published"] as? Int == 1 && whileDown[eastName]?["queued"] as? Int == 0, "\(whileDown)")
        #expect(whileDown[westName]?["published"] as? Int == 0 && whileDown[westName]?["queued"] as? Int == 1, "\(whileDown)")
        #expect(!published(west.port, path))

        // Back up: west catches up on its own queue.
        down.mutate { $0 = false }
        #expect(eventually(timeout: .seconds(40)) { published(west.port, path) }, "\(watch.output)")
        #expect(eventually { (try? status()[westName]?["queued"] as? Int) == 0 }, "\(watch.output)")
        #expect(watch.stop(SIGTERM) == 0)
        let after = try status()
        #expect(after[eastName]?["published"] as? Int == 1 && after[westName]?["published"] as? Int == 1, "\(after)")

        // The text form names both, endpoints included.
        let text = try Subprocess.checked(narsyncExecutable, ["status", "--state-dir", state, "--store-root", nix.storeRoot])
        #expect(text.standardOutput.contains(eastName) && text.standardOutput.contains(westName), "\(text.standardOutput)")
    }
}

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
}

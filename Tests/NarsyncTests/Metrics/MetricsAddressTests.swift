import Foundation
import Testing
import TestSupport

/// `--metrics-listen` takes an IPv4 address or an IPv6 one in brackets.
@Suite struct MetricsAddressTests {
    @Test func theEndpointListensOnIPv6Loopback() throws {
        let nix = try NixEnvironment()
        try nix.createStore()
        let port = try unusedLoopbackPort()
        let watch = try BackgroundProcess(narsyncExecutable, [
            "watch", "--store-root", nix.storeRoot, "--state-dir", nix.directory.appending("state"), "--hook-socket", "none",
            "--metrics-listen", "[::1]:\(port)",
        ], environment: nix.environment, logFile: nix.directory.appending("watch.log"))
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        #expect(watch.output.contains("http://[::1]:\(port)/metrics"), "\(watch.output)")
        var scraped = ""
        #expect(eventually {
            let result = try? Subprocess.run("curl", ["-sf", "--max-time", "5", "http://[::1]:\(port)/metrics"])
            scraped = result?.standardOutput ?? ""
            return result?.status == 0 && scraped.contains("narsync_queue_depth")
        }, "\(scraped)\n\(watch.output)")
        #expect(watch.stop(SIGTERM) == 0)
    }

    @Test func anIPv6AddressWithoutBracketsIsRefused() throws {
        let result = try Subprocess.run(narsyncExecutable, ["watch", "--metrics-listen", "::1:9400", "--state-dir", "/nonexistent"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("[::1]:9400"), "\(result.standardError)")
    }
}

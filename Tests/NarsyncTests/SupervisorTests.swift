import Foundation
import Testing
import TestSupport

/// `narsync watch` as one supervised service: the hook's requests reach every destination's
/// service, and systemd hears READY=1 once all destinations watch, RELOADING=1 and READY=1
/// around a SIGHUP, STOPPING=1 at SIGTERM.
@Suite struct SupervisorTests {
    /// A datagram socket standing in for systemd's notification socket (`NOTIFY_SOCKET`).
    final class NotifySocket {
        let path: String
        private let fd: Int32

        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { bytes in
                for (index, byte) in path.utf8.enumerated() { bytes[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard fd >= 0, bound == 0 else { throw TestFailure("cannot bind \(path): \(String(cString: strerror(errno)))") }
        }

        deinit { close(fd) }

        /// The assignments received so far, one datagram each.
        private(set) var received: [String] = []

        func receive() -> [String] {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                guard count > 0 else { return received }
                received.append(String(decoding: buffer[..<count], as: UTF8.self))
            }
        }
    }

    @Test func hookRequestsReachEveryDestinationAndSystemdHearsTheLifecycle() throws {
        let directory = try TemporaryDirectory(prefix: "narsync-supervised")
        let (socket, spool) = (directory.appending("hook.sock"), directory.appending("spool"))
        let hook = directory.appending("post-build-hook")
        try "#!/bin/sh\nexec '\(narsyncExecutable)' hook --socket '\(socket)' --spool-dir '\(spool)'\n"
            .write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        let nix = try NixEnvironment(extraConfig: "post-build-hook = \(hook)")
        try nix.createStore()
        let (one, two, config) = (directory.appending("one"), directory.appending("two"), directory.appending("config.toml"))
        // The database is re-read only hourly: what is published within the test came through the hook.
        try """
            state-dir = "\(directory.appending("state"))"
            [store]
            root = "\(nix.storeRoot)"
            [hook]
            socket = "\(socket)"
            spool-dir = "\(spool)"
            [watch]
            recheck-seconds = 3600
            [[destination]]
            url = "file://\(one)"
            [[destination]]
            url = "file://\(two)"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let systemd = try NotifySocket(path: directory.appending("notify"))
        var environment = nix.environment
        environment["NOTIFY_SOCKET"] = systemd.path
        let watch = try BackgroundProcess(narsyncExecutable, ["watch", "--config", config],
                                          environment: environment, logFile: directory.appending("watch.log"))
        #expect(eventually { systemd.receive().contains("READY=1") }, "\(watch.output)")
        #expect(watch.output.components(separatedBy: "watching").count == 3, "ready only once both watch: \(watch.output)")

        let output = try nix.build(shellDerivation(name: "supervised", script: "echo \(UUID()) > $out"))[0]
        let published = { (cache: String) in FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: output))") }
        #expect(eventually { published(one) && published(two) }, "\(watch.output)")

        kill(watch.process.processIdentifier, SIGHUP)
        #expect(eventually { watch.output.contains("SIGHUP: reloaded the configuration") }, "\(watch.output)")
        #expect(eventually { systemd.receive().filter { $0 == "READY=1" }.count == 2 }, "\(systemd.received)")
        #expect(watch.stop(SIGTERM) == 0, "\(watch.output)")
        let messages = systemd.receive()
        #expect(messages.filter { $0 == "READY=1" }.count == 2, "\(messages)")
        let reloading = try #require(messages.firstIndex { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") }, "\(messages)")
        #expect(messages.lastIndex(of: "READY=1")! > reloading)
        #expect(messages.last == "STOPPING=1", "\(messages)")
        #expect(messages.contains { $0.hasPrefix("STATUS=0 queued, 0 retrying, ") }, "\(messages)")
    }
}

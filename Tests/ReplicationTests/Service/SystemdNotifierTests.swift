import Foundation
import Glibc
import Testing
@testable import Replication
import TestSupport

@Suite struct SystemdNotifierTests {
    /// A datagram socket standing in for systemd's notification socket.
    final class NotifySocket {
        let fd: Int32

        init(name: String) throws {
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = try SocketAddress(name)
            let bound = withUnsafePointer(to: &address.storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
            }
            guard fd >= 0, bound == 0 else { throw TestFailure("cannot bind \(name): \(String(cString: strerror(errno)))") }
        }

        deinit { close(fd) }

        /// The datagrams received so far.
        func received() -> [String] {
            var messages: [String] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                guard count > 0 else { return messages }
                messages.append(String(decoding: buffer[..<count], as: UTF8.self))
            }
        }
    }

    @Test func sendsStateChangesToASocketPath() throws {
        let directory = try TemporaryDirectory(prefix: "narsync-notify")
        let path = directory.appending("notify")
        let systemd = try NotifySocket(name: path)
        let notifier = try SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.isEnabled)
        try notifier.ready()
        try notifier.status("watching; 12 queued\n3 retrying")
        try notifier.watchdog()
        try notifier.stopping()
        #expect(systemd.received() == ["READY=1", "STATUS=watching; 12 queued 3 retrying", "WATCHDOG=1", "STOPPING=1"])
        try notifier.reloading()
        let reload = try #require(systemd.received().first)
        #expect(reload.hasPrefix("RELOADING=1\nMONOTONIC_USEC="))
    }

    @Test func sendsToAnAbstractSocket() throws {
        let name = "@narsync-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let systemd = try NotifySocket(name: name)
        try SystemdNotifier(environment: ["NOTIFY_SOCKET": name]).ready()
        #expect(systemd.received() == ["READY=1"])
    }

    @Test func doesNothingWithoutNotifySocket() throws {
        let notifier = try SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        #expect(notifier.watchdogInterval == nil)
        try notifier.ready()
        try notifier.status("ignored")
    }

    @Test func theWatchdogIntervalIsHalfOfWhatSystemdAsks() throws {
        #expect(try SystemdNotifier(environment: ["WATCHDOG_USEC": "4000000"]).watchdogInterval == .seconds(2))
        #expect(try SystemdNotifier(environment: ["WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "\(getpid())"]).watchdogInterval == .seconds(2))
        // Meant for another process (we were started by the service's main process).
        #expect(try SystemdNotifier(environment: ["WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"]).watchdogInterval == nil)
        #expect(try SystemdNotifier(environment: ["WATCHDOG_USEC": "0"]).watchdogInterval == nil)
    }

    @Test func refusesASocketItCannotUse() {
        #expect(throws: SystemdNotifierError.unsupportedSocket("vsock:2:1234")) {
            try SystemdNotifier(environment: ["NOTIFY_SOCKET": "vsock:2:1234"])
        }
        let tooLong = "/" + String(repeating: "x", count: 200)
        #expect(throws: SystemdNotifierError.unsupportedSocket(tooLong)) {
            try SystemdNotifier(environment: ["NOTIFY_SOCKET": tooLong])
        }
    }

    @Test func aMissingSocketIsAnErrorNamingIt() throws {
        let notifier = try SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent/notify"])
        #expect { try notifier.ready() } throws: { "\($0)".contains("/nonexistent/notify") }
    }
}

import Foundation
import NixStore
import SystemSupport
import Testing
import TestSupport
@testable import Hook

/// What the server handed to its enqueue callback.
struct Enqueued: Sendable, Equatable {
    var outputs: [StorePath]
    var derivation: StorePath?
}

@Suite struct HookServerTests {
    let store = StoreDirectory.standard

    /// A server on a socket in a fresh directory, recording what it enqueues.
    final class Harness: @unchecked Sendable {
        let directory: TemporaryDirectory
        let server: HookServer
        let received = Recorder<Enqueued>()
        var socketPath: String { server.configuration.socketPath }
        var spool: Spool { server.configuration.spool! }

        init(trust: HookTrust = .rootOnly, socketMode: mode_t = 0o660, connectionTimeout: Duration = .seconds(1),
             maximumConnections: Int = 16, failing: Bool = false, prepareSpool: (Spool) throws -> Void = { _ in }) throws {
            directory = try TemporaryDirectory()
            chmod(directory.path, 0o755)
            let spool = Spool(directory: directory.appending("spool"))
            try prepareSpool(spool)
            let received = received
            server = try HookServer(configuration: .init(
                socketPath: directory.appending("run/hook.sock"), socketMode: socketMode, trust: trust, spool: spool,
                connectionTimeout: connectionTimeout, maximumConnections: maximumConnections
            )) { outputs, derivation in
                if failing { throw TestFailure("the manifest is read-only") }
                received.record(Enqueued(outputs: outputs, derivation: derivation))
                return outputs.count
            }
        }

        deinit { server.shutdown() }
    }

    private func request(_ names: String...) throws -> HookRequest {
        HookRequest(outputs: try names.map { try StorePath(baseName: randomStorePathBaseName($0)) },
                    derivation: try StorePath(baseName: randomStorePathBaseName("x.drv")))
    }

    /// Connects, sends `bytes` raw, and returns the answer line (or what came before EOF).
    private func rawExchange(_ socketPath: String, _ bytes: [UInt8], closeWriting: Bool = true) throws -> String {
        let socket = try connectRaw(socketPath)
        _ = bytes.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if closeWriting { shutdown(socket, Int32(SHUT_WR)) }
        defer { close(socket) }
        return readAll(socket)
    }

    private func connectRaw(_ socketPath: String) throws -> Int32 {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let connected = try UnixSocket.withAddress(socketPath) { connect(socket, $0, $1) }
        guard connected == 0 else { throw TestFailure("cannot connect to \(socketPath): \(String(cString: strerror(errno)))") }
        return socket
    }

    private func readAll(_ socket: Int32) -> String {
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            reply += chunk[..<count]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    @Test func queuesWhatTheClientSends() throws {
        let harness = try Harness()
        let request = try request("hello", "hello-man")
        let queued = try HookClient.send(request, storeDirectory: store, socketPath: harness.socketPath)
        #expect(queued == 2)
        #expect(harness.received.recorded == [Enqueued(outputs: request.outputs, derivation: request.derivation)])
        #expect(try harness.spool.pending().isEmpty)
    }

    @Test func passesADerivationOnlyRequestOnWithNoOutputs() throws {
        // What narsync hook sends when Nix 2.8.0 left OUT_PATHS empty and the .drv was unreadable.
        let harness = try Harness()
        let derivation = try StorePath(baseName: randomStorePathBaseName("only.drv"))
        #expect(try HookClient.send(HookRequest(outputs: [], derivation: derivation), storeDirectory: store, socketPath: harness.socketPath) == 0)
        #expect(harness.received.recorded == [Enqueued(outputs: [], derivation: derivation)])
    }

    @Test func clientFailsFastWithoutAServer() throws {
        let directory = try TemporaryDirectory()
        let started = ContinuousClock.now
        #expect(throws: HookClientError.self) {
            try HookClient.send(try request("a"), storeDirectory: store, socketPath: directory.appending("absent.sock"))
        }
        #expect(ContinuousClock.now - started < Duration.milliseconds(100).scaled)
    }

    @Test func refusesGarbageAndQueuesNothing() throws {
        let harness = try Harness()
        let garbage: [[UInt8]] = [
            [],
            Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            Array("narsync-hook 1\nout /etc/shadow\nend\n".utf8),
            Array("narsync-hook 1\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a;reboot\nend\n".utf8),
            Array("narsync-hook 1\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\n".utf8),
            (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) },
        ]
        for bytes in garbage {
            let answer = try rawExchange(harness.socketPath, bytes)
            #expect(answer.hasPrefix("error "), "answer \(answer)")
            #expect(answer.filter { $0 == "\n" }.count == 1)
        }
        // More than the size limit: refused once the limit is passed, without waiting for the rest.
        let huge = [UInt8](repeating: UInt8(ascii: "x"), count: HookRequest.maximumSize + 100_000)
        let socket = try connectRaw(harness.socketPath)
        let writer = Thread { _ = huge.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        writer.start()
        #expect(readAll(socket).hasPrefix("error the request is larger"))
        close(socket)

        #expect(harness.received.recorded.isEmpty)
        // The server is still there and still works.
        #expect(try HookClient.send(try request("after"), storeDirectory: store, socketPath: harness.socketPath) == 1)
    }

    @Test func aStalledClientDelaysNoOne() throws {
        let harness = try Harness(connectionTimeout: .milliseconds(500))
        let stalled = try (0..<5).map { _ in try connectRaw(harness.socketPath) }
        let half = try connectRaw(harness.socketPath)
        _ = Array("narsync-hook 1\nout /nix/".utf8).withUnsafeBytes { send(half, $0.baseAddress, $0.count, 0) }

        let started = ContinuousClock.now
        #expect(try HookClient.send(try request("prompt"), storeDirectory: store, socketPath: harness.socketPath) == 1)
        #expect(ContinuousClock.now - started < Duration.milliseconds(200).scaled)

        // The stalled ones are dropped at their deadline, with a reason.
        for socket in stalled + [half] {
            #expect(readAll(socket).hasPrefix("error the request did not arrive"))
            close(socket)
        }
        #expect(harness.received.recorded.count == 1)
    }

    @Test func tooManyStalledClientsSendTheRestToTheSpool() throws {
        let harness = try Harness(connectionTimeout: .seconds(2), maximumConnections: 2)
        let stalled = try (0..<2).map { _ in try connectRaw(harness.socketPath) }
        defer { stalled.forEach { close($0) } }
        // The server has no slot left: the client gives up within its deadline.
        let started = ContinuousClock.now
        #expect(throws: HookClientError.self) {
            try HookClient.send(try request("later"), storeDirectory: store, socketPath: harness.socketPath)
        }
        #expect(ContinuousClock.now - started < Duration.milliseconds(400).scaled)
    }

    @Test func refusesAnUntrustedUserAndTrustsAConfiguredOne() throws {
        let nobody = uid_t(65534)
        for trusted in [false, true] {
            let harness = try Harness(trust: trusted ? HookTrust(users: [nobody]) : .rootOnly, socketMode: 0o666)
            let output = "/nix/store/" + randomStorePathBaseName("from-nobody")
            let result = try Subprocess.run("setpriv", [
                "--reuid=65534", "--regid=65534", "--clear-groups", narsyncExecutable, "hook",
                "--socket", harness.socketPath, "--spool-dir", harness.spool.directory, output,
            ])
            #expect(result.status == 0)
            let lines = result.standardError.split(separator: "\n")
            #expect(lines.count == 1, "\(result.standardError)")
            if trusted {
                #expect(lines.first?.contains("queued 1 path") == true, "\(result.standardError)")
                #expect(harness.received.recorded.map { $0.outputs.map(store.fullPath(of:)) } == [[output]])
            } else {
                // Refused by the service, and the root-only spool is closed to it too.
                #expect(lines.first?.contains("not trusted") == true, "\(result.standardError)")
                #expect(harness.received.recorded.isEmpty)
                #expect(try harness.spool.pending().isEmpty)
            }
        }
    }

    @Test func trustsAGroupByPrimaryOrSupplementaryMembership() {
        let trust = HookTrust(groups: [65534])
        #expect(trust.trusts(PeerCredentials(pid: 1, uid: 0, gid: 0)))
        #expect(trust.trusts(PeerCredentials(pid: 1, uid: 65534, gid: 65534)))
        #expect(!trust.trusts(PeerCredentials(pid: 1, uid: 12345, gid: 12345)))
        // `nobody`'s own group is in its group list even when its gid is reported as another.
        #expect(trust.trusts(PeerCredentials(pid: 1, uid: 65534, gid: 4242)))
        #expect(!HookTrust.rootOnly.trusts(PeerCredentials(pid: 1, uid: 65534, gid: 65534)))
    }

    @Test func drainsTheSpoolAtStartAndWhenFilesAppear() throws {
        let early = try request("early-1", "early-2")
        let harness = try Harness { spool in
            try spool.write(early, storeDirectory: store)
            try createDirectories(spool.directory, mode: 0o700)
            try Data("narsync-hook 1\nout /nix/store/".utf8).write(to: URL(fileURLWithPath: "\(spool.directory)/00000000000000000001-1-1.request"))
        }
        #expect(harness.received.wait(forCount: 1).map(\.outputs) == [early.outputs])

        let late = try request("late")
        try harness.spool.write(late, storeDirectory: store)
        #expect(harness.received.wait(forCount: 2, timeout: 5).map(\.outputs) == [early.outputs, late.outputs])

        // Removed just after being queued.
        let deadline = Date(timeIntervalSinceNow: 5)
        while try !harness.spool.pending().isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(try harness.spool.pending().isEmpty)
        let rejected = try FileManager.default.contentsOfDirectory(atPath: harness.spool.rejectedDirectory).sorted()
        #expect(rejected == ["00000000000000000001-1-1.request", "00000000000000000001-1-1.request.reason"])
    }

    @Test func drainsALongSpoolInOrderWhileServingClients() throws {
        var spooled: [HookRequest] = []
        let harness = try Harness { spool in
            for index in 0..<200 {
                spooled.append(try request("spooled-\(index)"))
                try spool.write(spooled[index], storeDirectory: store)
            }
        }
        // Served between batches; the deadline is generous because tests share a loaded machine.
        #expect(try HookClient.send(try request("live"), storeDirectory: store, socketPath: harness.socketPath, timeout: .seconds(5)) == 1)
        let received = harness.received.wait(forCount: 201)
        #expect(received.count == 201)
        #expect(received.map(\.outputs).filter { $0 != received.first { $0.outputs[0].name == "live" }?.outputs } == spooled.map(\.outputs))
    }

    @Test func keepsSpooledRequestsWhenTheyCannotBeQueued() throws {
        let harness = try Harness(failing: true) { spool in try spool.write(try request("kept"), storeDirectory: store) }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(try harness.spool.pending().count == 1)
        // And a client is told, so that it spools too.
        #expect(throws: HookClientError.self) {
            try HookClient.send(try request("refused"), storeDirectory: store, socketPath: harness.socketPath)
        }
    }

    @Test func replacesAStaleSocketButNotALiveOne() throws {
        let harness = try Harness()
        #expect(throws: SystemError.self) {
            try HookServer(configuration: .init(socketPath: harness.socketPath, spool: nil)) { _, _ in 0 }
        }
        harness.server.shutdown()
        #expect(!FileManager.default.fileExists(atPath: harness.socketPath))

        // A socket file whose server died without removing it.
        let stale = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        _ = try UnixSocket.withAddress(harness.socketPath) { bind(stale, $0, $1) }
        close(stale)
        let replacement = try HookServer(configuration: .init(socketPath: harness.socketPath, spool: nil)) { outputs, _ in outputs.count }
        defer { replacement.shutdown() }
        #expect(try HookClient.send(try request("a"), storeDirectory: store, socketPath: harness.socketPath) == 1)
        var info = stat()
        #expect(stat(harness.socketPath, &info) == 0 && info.st_mode & 0o777 == 0o660)
    }
}

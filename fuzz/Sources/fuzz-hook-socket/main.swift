import Foundation
import FuzzSupport
import Hook
import NixStore

// The hook socket, as a hostile or broken client sees it: bytes go to a real HookServer over
// its Unix socket, and the server must answer one printable line, "ok <n>" exactly when the
// bytes are a valid request (and then queue exactly its paths), "error ..." otherwise.
// Inputs whose first byte is odd are instead what Nix gives `narsync hook` (DRV_PATH on the
// first line, OUT_PATHS after it): HookInput must turn them into a request the server takes.

let store = StoreDirectory.standard
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("narsync-fuzz-hook-\(getpid())").path
let socketPath = directory + "/hook.sock"

/// What the server queued last.
final class Queued: @unchecked Sendable {
    private let lock = NSLock()
    private var request: HookRequest?
    func set(_ outputs: [StorePath], _ derivation: StorePath?) {
        lock.withLock { request = HookRequest(outputs: outputs, derivation: derivation) }
    }
    func take() -> HookRequest? { lock.withLock { defer { request = nil }; return request } }
}
let queued = Queued()
let server = try! HookServer(
    configuration: .init(socketPath: socketPath, spool: nil, storeDirectory: store, connectionTimeout: .seconds(2)),
    enqueue: { outputs, derivation in
        queued.set(outputs, derivation)
        return outputs.count
    }
)
atexit { try? FileManager.default.removeItem(atPath: directory) }

/// Sends `bytes` as one client, closes the sending side and returns the whole answer.
func exchange(_ bytes: [UInt8]) -> String {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    require(fd >= 0, "socket: \(errno)")
    defer { close(fd) }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(socketPath.utf8)) }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    require(connected == 0, "connect: \(errno)")
    var offset = 0
    while offset < bytes.count {
        let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if sent < 0 && errno == EINTR { continue }
        if sent <= 0 { break }  // The server may answer and close before reading everything.
        offset += sent
    }
    shutdown(fd, Int32(SHUT_WR))
    var answer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 && errno == EINTR { continue }  // libFuzzer's -timeout alarm.
        require(count >= 0 || errno == ECONNRESET, "no answer within 5 s (errno \(errno)) to \(bytes.count) bytes")
        if count <= 0 { break }
        answer += chunk[..<count]
    }
    return String(decoding: answer, as: UTF8.self)
}

/// Checks the answer to `bytes` against what HookRequest(parsing:) makes of them.
func check(_ bytes: [UInt8]) {
    let expected = try? HookRequest(parsing: bytes, storeDirectory: store)
    let answer = exchange(bytes)
    require(answer.hasSuffix("\n") && answer.utf8.count <= 512, "the answer is not one short line: \(answer.debugDescription)")
    let line = String(answer.dropLast())
    requirePrintable(line, "the answer")
    let request = queued.take()
    if let expected {
        require(line == "ok \(expected.outputs.count)", "a valid request is answered \(line.debugDescription)")
        require(request == expected, "the server queued \(String(describing: request)), not \(expected)")
        let reparsed = try? HookRequest(parsing: expected.serialized(storeDirectory: store), storeDirectory: store)
        require(reparsed == expected, "a serialized request parses differently")
    } else {
        require(line.hasPrefix("error "), "an invalid request is answered \(line.debugDescription)")
        require(request == nil, "an invalid request queued \(String(describing: request))")
    }
}

fuzz { bytes in
    guard let mode = bytes.first, mode & 1 == 1 else {
        check(Array(bytes.dropFirst()))
        return
    }
    let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
    let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
    let input = HookInput(outputs: lines.dropFirst().map(String.init), derivation: String(lines[0]), storeDirectory: store)
    for reason in input.dropped { requirePrintable(reason, "a reason for dropping a path") }
    require(input.dropped.count <= HookInput.describedDropLimit, "\(input.dropped.count) reasons")
    guard let request = input.request else { return }
    let bytes = request.serialized(storeDirectory: store)
    require((try? HookRequest(parsing: bytes, storeDirectory: store)) == request, "the hook's request does not parse back")
    check(bytes)
}

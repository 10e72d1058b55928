@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// HTTP destinations against a loopback server that stores PUTs in a directory.
@Suite struct HTTPDestinationTests {
    let directory: TemporaryDirectory
    let quickRetries = RequestRetryPolicy(
        maximumAttempts: 4, initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100), maximumTotalTime: .seconds(10))

    init() throws {
        directory = try TemporaryDirectory(prefix: "narsync-http")
    }

    func options(_ configure: (inout DestinationOptions) -> Void = { _ in }) -> DestinationOptions {
        var options = DestinationOptions(partSize: 64 * 1024, retry: quickRetries, environment: [:])
        configure(&options)
        return options
    }

    func stored(_ key: String) -> [UInt8]? {
        FileManager.default.contents(atPath: directory.appending(key)).map(Array.init)
    }

    @Test func aLoginInTheURLIsRefusedWithoutRepeatingThePassword() {
        let error = #expect(throws: DestinationError.self) {
            try HTTPDestination(url: "https://uploader:hunter2@cache.example.org/nix", options: options())
        }
        #expect("\(error!)".contains("--netrc-file"))
        #expect(!"\(error!)".contains("hunter2"))
    }

    @Test func putExistsAndReadAsNixDoes() throws {
        let server = try HTTPCacheServer(directory: directory.path)
        defer { server.stop() }
        let destination = try makeDestination(url: server.url + "/cache/?compression=zstd", options: options())
        #expect(destination is HTTPDestination)
        #expect(destination.description == server.url + "/cache")
        let info = Array("StoreDir: /nix/store\n".utf8)
        try destination.put(key: "nix-cache-info", contents: info, contentType: ContentType.cacheInfo)
        #expect(stored("cache/nix-cache-info") == info)
        #expect(try destination.exists(key: "nix-cache-info"))
        #expect(try !destination.exists(key: "missing.narinfo"))
        #expect(try destination.read(key: "nix-cache-info") == info)
        #expect(try destination.read(key: "missing.narinfo") == nil)
        #expect(try destination.listKeys(suffix: ".narinfo") == nil)
    }

    @Test func requestsReuseOneConnection() throws {
        let server = try HTTPCacheServer(directory: directory.path)
        defer { server.stop() }
        let destination = try HTTPDestination(url: server.url, options: options())
        for index in 0..<10 {
            try destination.put(key: "\(index).narinfo", contents: [UInt8(index)], contentType: ContentType.narInfo)
            #expect(try destination.exists(key: "\(index).narinfo"))
        }
        #expect(server.requests("PUT").count == 10)
        #expect(server.connectionsAccepted == 1)
    }

    @Test func smallUploadIsOnePut() throws {
        let server = try HTTPCacheServer(directory: directory.path)
        defer { server.stop() }
        let destination = try HTTPDestination(url: server.url, options: options())
        let bytes = pseudoRandomBytes(40_000, seed: 30)
        try stream(bytes, into: destination.beginUpload(key: "nar/small.nar.zst", contentType: ContentType.nar, journal: nil))
        #expect(stored("nar/small.nar.zst") == bytes)
        let puts = server.requests("PUT")
        #expect(puts.count == 1)
        #expect(puts.first?.header("Content-Length") == "40000")
        #expect(puts.first?.header("Content-Type") == ContentType.nar)
    }

    @Test func largeUploadStreamsInOneChunkedPut() throws {
        let server = try HTTPCacheServer(directory: directory.path)
        defer { server.stop() }
        let destination = try HTTPDestination(url: server.url, options: options())
        let bytes = pseudoRandomBytes(3 << 20, seed: 31)
        try stream(bytes, into: destination.beginUpload(key: "nar/large.nar.zst", contentType: ContentType.nar, journal: nil))
        #expect(stored("nar/large.nar.zst") == bytes)
        let puts = server.requests("PUT")
        #expect(puts.count == 1)
        #expect(puts.first?.header("Transfer-Encoding") == "chunked")
        #expect(destination.statistics.bytesSent >= bytes.count)
    }

    @Test func abortedStreamingUploadLeavesNothing() throws {
        let server = try HTTPCacheServer(directory: directory.path)
        defer { server.stop() }
        let destination = try HTTPDestination(url: server.url, options: options())
        let upload = try destination.beginUpload(key: "nar/aborted.nar.zst", contentType: ContentType.nar, journal: nil)
        try stream(pseudoRandomBytes(1 << 20, seed: 32), into: upload, commit: false)
        upload.abort()
        #expect(stored("nar/aborted.nar.zst") == nil)
        #expect(try !destination.exists(key: "nar/aborted.nar.zst"))
    }

    @Test func bearerTokenComesFromAFileAndStaysSecret() throws {
        let server = try HTTPCacheServer(directory: directory.path, requiredAuthorization: "Bearer tok-5ecret")
        defer { server.stop() }
        let tokenFile = directory.appending("token")
        try "tok-5ecret\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let authorized = try HTTPDestination(url: server.url, options: options { $0.bearerTokenFile = tokenFile })
        let bytes = pseudoRandomBytes(200_000, seed: 33)
        try stream(bytes, into: authorized.beginUpload(key: "nar/token.nar.zst", contentType: ContentType.nar, journal: nil))
        #expect(stored("nar/token.nar.zst") == bytes)
        var dumped = ""
        dump(authorized, to: &dumped)
        #expect(!dumped.contains("tok-5ecret") && !"\(authorized)".contains("tok-5ecret"))

        let anonymous = try HTTPDestination(url: server.url, options: options())
        let error = #expect(throws: DestinationError.self) {
            try anonymous.put(key: "x.narinfo", contents: [1], contentType: ContentType.narInfo)
        }
        #expect(error?.reason == .status(401, code: nil, message: "who are you?"))
        #expect(error?.description.contains("bearer token") == true)

        try "wrong\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let wrong = try HTTPDestination(url: server.url, options: options { $0.bearerTokenFile = tokenFile })
        let refused = #expect(throws: DestinationError.self) { try wrong.exists(key: "x.narinfo") }
        #expect(refused?.description.contains(tokenFile) == true)
        #expect(refused?.description.contains("wrong") == false)
    }

    @Test func netrcLoginIsSentByCurl() throws {
        let login = Data("narsync:pa55".utf8).base64EncodedString()
        let server = try HTTPCacheServer(directory: directory.path, requiredAuthorization: "Basic \(login)")
        defer { server.stop() }
        let netrc = directory.appending("netrc")
        try "machine 127.0.0.1 login narsync password pa55\n".write(toFile: netrc, atomically: true, encoding: .utf8)
        let destination = try HTTPDestination(url: server.url, options: options { $0.netrcFile = netrc })
        try destination.put(key: "nix-cache-info", contents: [1], contentType: ContentType.cacheInfo)
        #expect(stored("nix-cache-info") == [1])
    }

    @Test func transientFailuresAreRetried() throws {
        let server = try HTTPCacheServer(directory: directory.path)
        defer { server.stop() }
        let schedule = FaultSchedule([
            "PUT": [.status(503, code: "Busy"), .cutResponse, .dropRequest],
            "HEAD": [.status(500, code: "Oops")],
            "GET": [.status(429, code: "TooMany", retryAfter: 0)],
        ])
        let proxy = try FaultProxy(upstreamPort: server.port) { _, method, target in schedule.fault(method: method, target: target) }
        defer { proxy.stop() }
        let destination = try HTTPDestination(url: "http://127.0.0.1:\(proxy.port)", options: options())
        let bytes = pseudoRandomBytes(50_000, seed: 34)
        try destination.put(key: "nar/retried.nar.zst", contents: bytes, contentType: ContentType.nar)
        #expect(try destination.exists(key: "nar/retried.nar.zst"))
        #expect(try destination.read(key: "nar/retried.nar.zst") == bytes)
        #expect(stored("nar/retried.nar.zst") == bytes)
        #expect(destination.statistics.retries >= 4)
    }
}

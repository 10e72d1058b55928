@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// Hands out faults in turn to the requests of each kind; requests past the list go through.
final class FaultSchedule: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [String: [FaultProxy.Fault?]]

    init(_ faults: [String: [FaultProxy.Fault?]]) {
        pending = faults
    }

    func fault(method: String, target: String) -> FaultProxy.Fault? {
        lock.withLock {
            let kind = Self.kind(method: method, target: target)
            guard let next = pending[kind]?.first else { return nil }
            pending[kind]!.removeFirst()
            return next
        }
    }

    /// "create", "part", "complete", or the method: the S3 call a request makes.
    static func kind(method: String, target: String) -> String {
        if method == "POST" && target.hasSuffix("?uploads") || target.contains("?uploads=") { return "create" }
        if method == "PUT" && target.contains("partNumber=") { return "part" }
        if method == "POST" && target.contains("uploadId=") { return "complete" }
        return method
    }
}

/// Uploads through a proxy that answers 500 and 503 SlowDown, resets connections mid-body,
/// cuts answers short and stalls; moto or RGW behind it holds the truth.
@Suite(.moto) struct FaultToleranceTests {
    @Test(arguments: S3Backend.tested) func multipartUploadArrivesWholeThroughFaults(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let direct = try s3.makeBucket()
        let schedule = FaultSchedule([
            "create": [.status(503, code: "SlowDown")],
            "part": [
                nil, .status(503, code: "SlowDown"), .dropRequest, nil, .status(500, code: "InternalError", retryAfter: 1),
                .cutResponse, .delay(.seconds(3)),
            ],
            // S3 may fail a completion with 200 and the error in the body.
            "complete": [.status(500, code: "InternalError"), .status(200, code: "InternalError")],
            "GET": [.cutResponse],
        ])
        let proxy = try FaultProxy(upstreamPort: s3.server.port) { _, method, target in
            schedule.fault(method: method, target: target)
        }
        defer { proxy.stop() }
        let options = s3.options {
            $0.partsInFlight = 3
            $0.stallTimeout = .seconds(2)
        }
        let destination = try S3Destination(url: s3.url(bucket: direct.location.bucket, port: proxy.port), options: options)
        let bytes = pseudoRandomBytes(28 << 20, seed: 20)  // six parts: 5 × 5 MiB + 3 MiB
        try stream(bytes, into: destination.beginUpload(key: "nar/faulty.nar.zst", contentType: ContentType.nar, journal: nil))

        // Read back past the proxy, and through it (the first GET is cut off).
        #expect(try direct.read(key: "nar/faulty.nar.zst") == bytes)
        #expect(try destination.read(key: "nar/faulty.nar.zst") == bytes)
        #expect(try direct.multipartUploads().isEmpty)

        // A retried part re-sends that part only: each part number went out once, plus once
        // for every fault that hit it.
        let parts = proxy.requests.filter { FaultSchedule.kind(method: $0.method, target: $0.target) == "part" }
        for number in 1...6 {
            let sent = parts.filter { $0.target.contains("partNumber=\(number)&") || $0.target.hasSuffix("partNumber=\(number)") }
            #expect(sent.count == 1 + sent.filter { $0.fault != nil }.count, "part \(number)")
        }
        // Error answers, cut answers and the stall surface as retries; a connection reset
        // before any answer curl may retry on its own.
        #expect(proxy.requests.filter { $0.fault != nil }.count == 9)
        #expect(destination.statistics.retries >= 8)
    }

    /// Found by the faulty-network campaign: an upload S3 created but whose answer was lost
    /// (cut off, or stalled past the timeout) was left in the bucket for good.
    @Test(arguments: S3Backend.tested) func uploadsWhoseCreationAnswerWasLostAreAborted(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let direct = try s3.makeBucket()
        // The stalled creation reaches the server after the retry's; the parts take longer still.
        let schedule = FaultSchedule([
            "create": [.cutResponse, .delay(.milliseconds(2500))],
            "part": [.delay(.milliseconds(1500)), .delay(.milliseconds(1500)), .delay(.milliseconds(1500))],
        ])
        let proxy = try FaultProxy(upstreamPort: s3.server.port) { _, method, target in
            schedule.fault(method: method, target: target)
        }
        defer { proxy.stop() }
        let options = s3.options { $0.stallTimeout = .seconds(2) }
        let destination = try S3Destination(url: s3.url(bucket: direct.location.bucket, port: proxy.port), options: options)
        let bytes = pseudoRandomBytes(12 << 20, seed: 21)
        try stream(bytes, into: destination.beginUpload(key: "nar/lost.nar.zst", contentType: ContentType.nar, journal: nil))
        #expect(try direct.read(key: "nar/lost.nar.zst") == bytes)
        // Three uploads were created; the two whose answers were lost are aborted.
        #expect(proxy.requests.filter { $0.method == "POST" && $0.target.hasSuffix("?uploads=") }.count == 3)
        #expect(try direct.multipartUploads().isEmpty)
    }

    @Test(arguments: S3Backend.tested) func permanentErrorsFailAtOnce(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let bucket = try s3.makeBucket().location.bucket
        let proxy = try FaultProxy(upstreamPort: s3.server.port) { _, _, _ in .status(403, code: "AccessDenied") }
        defer { proxy.stop() }
        let destination = try S3Destination(url: s3.url(bucket: bucket, port: proxy.port), options: s3.options())
        let started = ContinuousClock.now
        let error = #expect(throws: DestinationError.self) {
            try destination.put(key: "x.narinfo", contents: [1], contentType: ContentType.narInfo)
        }
        #expect(error?.reason == .status(403, code: "AccessDenied", message: "injected by FaultProxy"))
        #expect(error?.attempts == 1)
        #expect(error?.description.contains("s3://\(bucket)/x.narinfo") == true)
        #expect(proxy.requests.count == 1)
        #expect(ContinuousClock.now - started < Duration.seconds(1).scaled)
    }

    @Test(arguments: S3Backend.tested) func retriesStopAtTheLimit(_ backend: S3Backend) throws {
        let s3 = try SharedS3.required(backend)
        let bucket = try s3.makeBucket().location.bucket
        let proxy = try FaultProxy(upstreamPort: s3.server.port) { _, _, _ in .status(503, code: "SlowDown") }
        defer { proxy.stop() }
        let options = s3.options { $0.retry.maximumAttempts = 3 }
        let destination = try S3Destination(url: s3.url(bucket: bucket, port: proxy.port), options: options)
        let error = #expect(throws: DestinationError.self) {
            try destination.put(key: "x.narinfo", contents: [1], contentType: ContentType.narInfo)
        }
        #expect(error?.attempts == 3)
        #expect(error?.isTransient == true)
        #expect(error?.description.contains("503 SlowDown") == true)
        #expect(error?.description.contains("after 3 attempts") == true)
        #expect(proxy.requests.count == 3)
        #expect(destination.statistics.retries == 2)
    }

    @Test func unreachableEndpointIsATransportError() throws {
        let s3 = try SharedS3.required(.moto)  // for its options: no request reaches it
        let port = try LoopbackListener.freePort()  // nobody listens there
        let options = s3.options { $0.retry.maximumAttempts = 2 }
        let destination = try S3Destination(url: s3.url(bucket: "narsync-nowhere", port: port), options: options)
        let error = #expect(throws: DestinationError.self) { try destination.exists(key: "x.narinfo") }
        guard case .transport = error?.reason else {
            Issue.record("expected a transport error, got \(String(describing: error))")
            return
        }
        #expect(error?.isTransient == true)
        #expect(error?.attempts == 2)
        #expect(error?.description.contains("127.0.0.1:\(port)") == true)
    }
}

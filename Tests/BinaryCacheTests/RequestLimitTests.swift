@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// The limit on requests in flight to one destination, seen from a proxy in front of moto:
/// the ceiling holds, and throttling answers lower it for the requests that follow.
@Suite(.moto) struct RequestLimitTests {
    /// Sends `count` small PUTs at once, from threads of their own, and waits for them all.
    private func putConcurrently(_ count: Int, to destination: S3Destination, prefix: String) throws {
        final class Failures: @unchecked Sendable {
            let lock = NSLock()
            var messages: [String] = []
        }
        let failures = Failures()
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            Thread {
                do {
                    try destination.put(key: "\(prefix)-\(index)", contents: [UInt8(index)], contentType: "text/plain")
                } catch {
                    failures.lock.withLock { failures.messages.append("\(error)") }
                }
                group.leave()
            }.start()
        }
        group.wait()
        if let failure = failures.lock.withLock({ failures.messages.first }) { throw TestFailure(failure) }
    }

    @Test func noMoreRequestsThanTheCeilingAreInFlight() throws {
        let moto = try SharedS3.required(.moto)
        let bucket = try moto.makeBucket()
        let proxy = try FaultProxy(upstreamPort: moto.server.port) { _, _, _ in .delay(.milliseconds(150)) }
        defer { proxy.stop() }
        let destination = try S3Destination(
            url: moto.url(bucket: bucket.location.bucket, port: proxy.port), options: moto.options { $0.maximumRequestsInFlight = 3 })
        try putConcurrently(12, to: destination, prefix: "ceiling")
        #expect(proxy.maxConcurrentRequests == 3)
        #expect(destination.statistics.requestLimit == 3)
    }

    @Test func throttlingAnswersLowerTheRequestsInFlight() throws {
        let moto = try SharedS3.required(.moto)
        let bucket = try moto.makeBucket()
        // The first 8 requests: throttled. All: slow enough to overlap.
        let proxy = try FaultProxy(upstreamPort: moto.server.port) { index, _, _ in
            index < 8 ? .status(503, code: "SlowDown") : .delay(.milliseconds(100))
        }
        defer { proxy.stop() }
        let destination = try S3Destination(
            url: moto.url(bucket: bucket.location.bucket, port: proxy.port),
            options: moto.options { $0.maximumRequestsInFlight = 8 })
        try putConcurrently(8, to: destination, prefix: "throttled")
        let after = proxy.requests.dropFirst(8)
        // Cut to 4 by the first answer (to less if some of the eight went out after it); the
        // retries then go out four at a time at most.
        #expect(destination.statistics.throttledAnswers == 8)
        #expect(after.count == 8)
        #expect(after.allSatisfy { $0.concurrentAtArrival <= 4 }, "\(after.map(\.concurrentAtArrival))")
        #expect(destination.statistics.requestLimit <= 4)
        for index in 0..<8 { #expect(try bucket.read(key: "throttled-\(index)") == [UInt8(index)]) }
    }
}

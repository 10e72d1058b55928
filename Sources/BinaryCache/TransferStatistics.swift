import Synchronization

/// Counters of one destination's network traffic, for the pipeline's summary and metrics.
///
/// Updated by the thread that drives curl, read from anywhere.
public final class TransferStatistics: Sendable {
    private let requestCount = Atomic<Int>(0)
    private let retryCount = Atomic<Int>(0)
    private let sentCount = Atomic<Int>(0)
    private let receivedCount = Atomic<Int>(0)
    private let reusedPartCount = Atomic<Int>(0)
    private let resumedUploadCount = Atomic<Int>(0)
    private let throttledCount = Atomic<Int>(0)
    private let currentRequestLimit = Atomic<Int>(0)

    public init() {}

    /// HTTP requests sent, retries included.
    public var requests: Int { requestCount.load(ordering: .relaxed) }
    /// Requests sent again after a transient failure (5xx, 429, SlowDown, timeout, dropped connection).
    public var retries: Int { retryCount.load(ordering: .relaxed) }
    /// Request body bytes sent, retries included.
    public var bytesSent: Int { sentCount.load(ordering: .relaxed) }
    /// Response body bytes received.
    public var bytesReceived: Int { receivedCount.load(ordering: .relaxed) }
    /// Parts of resumed multipart uploads that a previous run had stored and were not sent again.
    public var partsReused: Int { reusedPartCount.load(ordering: .relaxed) }
    /// Multipart uploads completed with parts of an interrupted run.
    public var uploadsResumed: Int { resumedUploadCount.load(ordering: .relaxed) }

    /// Answers that asked for fewer requests (503 SlowDown, 429).
    public var throttledAnswers: Int { throttledCount.load(ordering: .relaxed) }
    /// Requests that may be in flight now: the ceiling, or less while the server throttles.
    public var requestLimit: Int { currentRequestLimit.load(ordering: .relaxed) }

    func recordRequest() { requestCount.add(1, ordering: .relaxed) }
    func recordRetry() { retryCount.add(1, ordering: .relaxed) }
    func recordTransferred(sent: Int, received: Int) {
        sentCount.add(sent, ordering: .relaxed)
        receivedCount.add(received, ordering: .relaxed)
    }
    func recordReusedPart() { reusedPartCount.add(1, ordering: .relaxed) }
    func recordResumedUpload() { resumedUploadCount.add(1, ordering: .relaxed) }
    func recordThrottled() { throttledCount.add(1, ordering: .relaxed) }
    func recordRequestLimit(_ limit: Int) { currentRequestLimit.store(limit, ordering: .relaxed) }
}

/// A destination that counts its traffic; the pipeline reports the counts when it finishes.
public protocol TransferStatisticsReporting {
    var statistics: TransferStatistics { get }
}

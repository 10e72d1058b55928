internal import CCurl
import Foundation
import Logging
import SystemSupport

/// The thread behind a `CurlMulti`: it adds requests to curl's multi handle, lets curl move
/// their bytes, retries what failed transiently and hands outcomes back. Everything but
/// `inbox` is touched only by that thread.
final class CurlDriver: @unchecked Sendable {
    private struct Inbox {
        var submitted: [Exchange] = []
        var isStopping = false
    }

    private let multi: UnsafeMutableRawPointer
    private let settings: TransferSettings
    private let statistics: TransferStatistics
    private let logger: Logger
    private let inbox = Locked(Inbox())
    private var active: [UnsafeMutableRawPointer: CurlAttempt] = [:]
    private var waitingToRetry: [(due: ContinuousClock.Instant, exchange: Exchange)] = []

    init(settings: TransferSettings, statistics: TransferStatistics, logger: Logger) {
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed: out of memory") }
        self.multi = multi
        self.settings = settings
        self.statistics = statistics
        self.logger = logger
        ccurl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
    }

    func submit(_ exchange: Exchange) {
        let accepted = inbox.withLock { inbox in
            guard !inbox.isStopping else { return false }
            inbox.submitted.append(exchange)
            curl_multi_wakeup(multi)
            return true
        }
        guard accepted else {
            let failure = TransportFailure(code: 0, message: "the destination was closed", isTransient: false)
            return exchange.completion(ExchangeOutcome(result: .failure(failure), attempts: 0))
        }
    }

    /// Wakes the driver from `curl_multi_poll`. Under the lock, so that no wake-up reaches
    /// the multi handle once the driver, having seen `isStopping`, may have cleaned it up.
    func wake() {
        inbox.withLock { inbox in
            if !inbox.isStopping { curl_multi_wakeup(multi) }
        }
    }

    func stop() {
        inbox.withLock { inbox in
            inbox.isStopping = true
            curl_multi_wakeup(multi)
        }
    }

    func run() {
        while true {
            let (submitted, isStopping) = inbox.withLock { inbox in
                defer { inbox.submitted.removeAll() }
                return (inbox.submitted, inbox.isStopping)
            }
            if isStopping {
                shutDown(abandoning: submitted)
                return
            }
            submitted.forEach(startAttempt)
            startDueRetries()
            dropCancelled()
            dropStalled()
            resumeReadableStreams()
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            collectFinished()
            curl_multi_poll(multi, nil, 0, pollTimeout(), nil)
        }
    }

    private func startAttempt(_ exchange: Exchange) {
        if exchange.cancellation?.isCancelled == true { return complete(exchange, with: .failure(cancelled)) }
        exchange.attempts += 1
        if exchange.firstAttemptStarted == nil { exchange.firstAttemptStarted = .now }
        guard let attempt = CurlAttempt(exchange: exchange, request: exchange.makeRequest(), settings: settings) else {
            let failure = TransportFailure(code: 0, message: "curl_easy_init failed", isTransient: false)
            return complete(exchange, with: .failure(failure))
        }
        if let stream = attempt.streamBody { stream.setOnReadable { [weak self] in self?.wake() } }
        statistics.recordRequest()
        active[attempt.handle] = attempt
        curl_multi_add_handle(multi, attempt.handle)
    }

    private func collectFinished() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle,
                let attempt = active[handle]
            else { continue }
            let code = message.pointee.data.result
            detach(attempt)
            finish(attempt.exchange, with: attempt.finish(code: code, statistics: statistics), streamed: attempt.streamBody != nil)
        }
    }

    /// Completes the exchange, or schedules it again if the failure is transient and the
    /// retry policy allows another attempt.
    private func finish(_ exchange: Exchange, with result: Result<HTTPResponse, TransportFailure>, streamed: Bool) {
        let reason: String
        var retryAfter: Duration?
        switch result {
        case .success(let response) where exchange.isTransient(response):
            reason = "HTTP \(response.status)"
            retryAfter = RequestRetryPolicy.parseRetryAfter(response.header("retry-after"))
        case .failure(let failure) where failure.isTransient:
            reason = failure.message
        default:
            return complete(exchange, with: result)
        }
        let elapsed = ContinuousClock.now - (exchange.firstAttemptStarted ?? .now)
        guard !streamed, exchange.cancellation?.isCancelled != true,
            let delay = settings.retry.delay(after: exchange.attempts, elapsed: elapsed, retryAfter: retryAfter)
        else { return complete(exchange, with: result) }
        statistics.recordRetry()
        logger.notice("retrying \(exchange.label) in \(delay.readable): attempt \(exchange.attempts) failed: \(reason)")
        waitingToRetry.append((.now + delay, exchange))
    }

    private func complete(_ exchange: Exchange, with result: Result<HTTPResponse, TransportFailure>) {
        exchange.completion(ExchangeOutcome(result: result, attempts: exchange.attempts))
    }

    private var cancelled: TransportFailure {
        TransportFailure(code: 0, message: "cancelled", isTransient: false, isCancellation: true)
    }

    private func startDueRetries() {
        let now = ContinuousClock.now
        let due = waitingToRetry.filter { $0.due <= now || $0.exchange.cancellation?.isCancelled == true }
        guard !due.isEmpty else { return }
        waitingToRetry.removeAll { $0.due <= now || $0.exchange.cancellation?.isCancelled == true }
        due.forEach { startAttempt($0.exchange) }
    }

    private func dropCancelled() {
        for attempt in active.values where attempt.exchange.cancellation?.isCancelled == true {
            detach(attempt)
            complete(attempt.exchange, with: .failure(cancelled))
        }
    }

    private func dropStalled() {
        let now = ContinuousClock.now
        for attempt in active.values where attempt.hasStalled(now: now, timeout: settings.stallTimeout) {
            detach(attempt)
            let stalled = TransportFailure(
                code: Int(CURLE_OPERATION_TIMEDOUT.rawValue), message: "no data moved for \(settings.stallTimeout)", isTransient: true)
            attempt.recordTraffic(in: statistics)
            finish(attempt.exchange, with: .failure(stalled), streamed: attempt.streamBody != nil)
        }
    }

    /// Takes an attempt out of curl's hands; a writer still feeding its body is turned away.
    private func detach(_ attempt: CurlAttempt) {
        active[attempt.handle] = nil
        curl_multi_remove_handle(multi, attempt.handle)
        attempt.streamBody?.close()
    }

    private func resumeReadableStreams() {
        for attempt in active.values where attempt.isPausedForBody && attempt.streamBody?.isReadable == true {
            attempt.isPausedForBody = false
            curl_easy_pause(attempt.handle, ccurl_pause_continue())
        }
    }

    /// Milliseconds until the driver needs to look again at the latest: the next retry, or a
    /// tenth of the stall timeout while requests are under way, or a second.
    private func pollTimeout() -> Int32 {
        var wait = Duration.seconds(1)
        if !active.isEmpty { wait = min(wait, settings.stallTimeout / 10) }
        if let next = waitingToRetry.map(\.due).min() { wait = min(wait, max(.zero, next - .now)) }
        return Int32(wait.milliseconds + 1)
    }

    private func shutDown(abandoning submitted: [Exchange]) {
        let closed = TransportFailure(code: 0, message: "the destination was closed", isTransient: false)
        for attempt in active.values {
            detach(attempt)
            complete(attempt.exchange, with: .failure(closed))
        }
        (submitted + waitingToRetry.map(\.exchange)).forEach { complete($0, with: .failure(closed)) }
        waitingToRetry.removeAll()
        curl_multi_cleanup(multi)
    }
}

internal import CCurl
import Foundation
import Logging
import NixStore

/// One dedicated thread driving every request of a destination through a curl multi handle:
/// connections (and HTTP/2 streams) are reused across requests, many requests are in flight at
/// once, and no curl call ever runs on Swift's cooperative pool.
///
/// Callers hand it `Exchange`s: `perform` blocks until the outcome, `start` calls back. The
/// driver retries transient failures itself, after the `RequestRetryPolicy`'s backoff.
final class CurlMulti: Sendable {
    private let driver: CurlDriver

    /// - Parameter destination: the destination, as log lines name it.
    init(name: String, settings: TransferSettings, statistics: TransferStatistics, logger: Logger, destination: String) {
        // makeDestination has reported a missing libcurl as the user's problem already.
        if let problem = CurlMulti.libraryProblem { fatalError("cannot load libcurl: \(problem)") }
        driver = CurlDriver(settings: settings, statistics: statistics, logger: logger, destination: destination)
        let driver = self.driver
        let thread = Thread { driver.run() }
        thread.name = name
        thread.start()
    }

    deinit { driver.stop() }

    /// Why libcurl cannot be loaded (see `ccurl_load`), or nil once it is loaded and initialised.
    /// curl_global_init is not thread-safe; a static let runs it exactly once. libcrypto first,
    /// as curl initialises it too.
    static let libraryProblem: String? = {
        if let problem = ccurl_load() { return String(cString: problem) }
        CryptoLibrary.initialize
        curl_global_init(ccurl_global_default())
        return nil
    }()

    /// Sends `exchange`; its completion runs on the driver thread.
    func start(_ exchange: Exchange) { driver.submit(exchange) }

    /// Sends an exchange and blocks the calling thread until its outcome.
    func perform(
        label: String,
        cancellation: Cancellation? = nil,
        isTransient: @escaping @Sendable (HTTPResponse) -> Bool,
        makeRequest: @escaping @Sendable () -> HTTPRequest
    ) -> ExchangeOutcome {
        begin(label: label, cancellation: cancellation, isTransient: isTransient, makeRequest: makeRequest).wait()
    }

    /// Sends an exchange; the caller waits for its outcome when it needs it.
    func begin(
        label: String,
        cancellation: Cancellation? = nil,
        isTransient: @escaping @Sendable (HTTPResponse) -> Bool,
        makeRequest: @escaping @Sendable () -> HTTPRequest
    ) -> PendingOutcome {
        let pending = PendingOutcome()
        start(Exchange(label: label, cancellation: cancellation, isTransient: isTransient, makeRequest: makeRequest) {
            pending.fulfil($0)
        })
        return pending
    }

    /// Wakes the driver to act on cancelled exchanges or on new bytes of a streamed body.
    func wake() { driver.wake() }
}

/// A one-shot hand-over of an outcome from the driver thread to a blocked caller.
final class PendingOutcome: @unchecked Sendable {
    private let condition = NSCondition()
    private var outcome: ExchangeOutcome?

    func fulfil(_ value: ExchangeOutcome) {
        condition.lock()
        outcome = value
        condition.signal()
        condition.unlock()
    }

    func wait() -> ExchangeOutcome {
        condition.lock()
        defer { condition.unlock() }
        while outcome == nil { condition.wait() }
        return outcome!
    }
}

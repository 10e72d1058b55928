import Foundation
import Logging

/// When temporary credentials are renewed: five minutes before they expire, or at half their
/// lifetime when that comes first (credentials that live 20 s are renewed after 10 s).
public enum RefreshSchedule {
    public static let lead: TimeInterval = 300

    /// When to renew credentials obtained at `obtained` that expire at `expiration`.
    public static func refreshTime(obtained: Date, expiration: Date) -> Date {
        let lifetime = max(0, expiration.timeIntervalSince(obtained))
        return expiration.addingTimeInterval(-min(lead, lifetime / 2))
    }

    /// The wait before refresh attempt `failures + 1` after that many failures in a row:
    /// 1 s, doubling up to a minute.
    public static func retryDelay(failures: Int) -> TimeInterval {
        min(60, pow(2, Double(min(failures, 8)) - 1))
    }
}

/// What `narsync status`, `config check` and the metrics show about a destination's
/// credentials. Never a secret or a token.
public struct CredentialStatus: Sendable, Codable, Equatable {
    /// Where the credentials come from: "AWS_ACCESS_KEY_ID", "EC2 instance metadata (role r)".
    public var source: String
    public var accessKeyID: String
    /// When they expire; nil for long-term keys.
    public var expiration: Date?
    /// Failed refreshes since the service started.
    public var refreshFailures: Int
    /// The last refresh's error, while refreshing fails.
    public var refreshProblem: String?
}

/// A destination's credentials, renewed in the background by a thread of its own before they
/// expire (see `RefreshSchedule`). Requests take `latest` when they are sent (so a multipart
/// upload that spans a refresh signs its later parts with the new keys); `current` also waits
/// for a refresh when the credentials have expired; `refresh(rejecting:)` renews at once keys
/// that S3 refused as expired.
public final class CredentialCache: Sendable, CustomStringConvertible {
    private let refresher: Refresher

    /// Starts with credentials the chain has just fetched from `provider`.
    public init(provider: any CredentialProvider, credentials: S3Credentials, logger: Logger) {
        refresher = Refresher(provider: provider, credentials: credentials, logger: logger)
        let refresher = refresher
        let thread = Thread { refresher.run() }
        thread.name = "narsync-creds"
        thread.start()
    }

    /// Credentials that never change (tests, callers with keys in hand).
    public convenience init(_ credentials: S3Credentials, logger: Logger = Logger(label: "narsync.credentials")) {
        self.init(provider: StaticCredentialProvider(credentials), credentials: credentials, logger: logger)
    }

    deinit { refresher.stop() }

    /// The credentials in hand, even if expired; never waits. For signing on the curl thread.
    public var latest: S3Credentials { refresher.latest }

    /// Credentials that have not expired, waiting (up to `timeout`) for a refresh when they
    /// have. Blocks: call it from an upload thread.
    /// - Throws: a transient `DestinationError` when no refresh gives any: the path waits in
    ///   the queue and is tried again, as in an outage.
    public func current(timeout: Duration = .seconds(60)) throws(DestinationError) -> S3Credentials {
        try refresher.current(timeout: timeout)
    }

    /// S3 refused `accessKeyID` (`ExpiredToken` and the like): unless a refresh already
    /// replaced it, fetch new credentials now; `then` runs once that attempt is over, on the
    /// refresher's thread (it must not block).
    public func refresh(rejecting accessKeyID: String, then: @escaping @Sendable () -> Void) {
        refresher.refresh(rejecting: accessKeyID, then: then)
    }

    /// `refresh(rejecting:)`, waiting for the attempt.
    public func refreshNow(rejecting accessKeyID: String) {
        let done = OneShotSignal()
        refresh(rejecting: accessKeyID) { done.signal() }
        done.wait()
    }

    public var status: CredentialStatus { refresher.status }

    /// Called on the refresher's thread after each refresh, successful or not.
    public func onChange(_ observer: @escaping @Sendable (CredentialStatus) -> Void) {
        refresher.setObserver(observer)
    }

    public var description: String { latest.description }
}

/// A one-shot signal from another thread to a blocked one.
private final class OneShotSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private var done = false

    func signal() {
        condition.lock()
        done = true
        condition.signal()
        condition.unlock()
    }

    func wait() {
        condition.lock()
        while !done { condition.wait() }
        condition.unlock()
    }
}

/// The state behind `CredentialCache` and the loop of its thread. Everything is under `condition`.
private final class Refresher: @unchecked Sendable {
    private let provider: any CredentialProvider
    private let logger: Logger
    private let condition = NSCondition()
    private var credentials: S3Credentials
    private var refreshAt: Date?
    /// When `credentials` were fetched, for their lifetime.
    private var obtainedAt = Date()
    /// Keys S3 refused: `current` treats them as expired.
    private var rejectedKeyID: String?
    private var refreshRequested = false
    /// Counts finished refresh attempts, so waiters know when one has ended.
    private var attempts = 0
    private var failuresInARow = 0
    private var failuresTotal = 0
    private var problem: String?
    private var afterAttempt: [@Sendable () -> Void] = []
    private var observer: (@Sendable (CredentialStatus) -> Void)?
    private var stopped = false

    /// Credentials are taken as expired this long before their expiry (a quarter of their
    /// lifetime when that is shorter), for clock skew and requests in flight.
    static let expiryMargin: TimeInterval = 10

    init(provider: any CredentialProvider, credentials: S3Credentials, logger: Logger) {
        self.provider = provider
        self.credentials = credentials
        self.logger = logger
        refreshAt = credentials.expiration.map { RefreshSchedule.refreshTime(obtained: Date(), expiration: $0) }
    }

    var latest: S3Credentials { locked { credentials } }

    var status: CredentialStatus { locked { statusLocked } }

    private var statusLocked: CredentialStatus {
        CredentialStatus(
            source: credentials.source, accessKeyID: credentials.accessKeyID, expiration: credentials.expiration,
            refreshFailures: failuresTotal, refreshProblem: problem)
    }

    func setObserver(_ observer: @escaping @Sendable (CredentialStatus) -> Void) {
        let status = locked {
            self.observer = observer
            return statusLocked
        }
        observer(status)
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }

    private var isUsableLocked: Bool {
        if credentials.accessKeyID == rejectedKeyID { return false }
        guard let expiration = credentials.expiration else { return true }
        let margin = min(Self.expiryMargin, expiration.timeIntervalSince(obtainedAt) / 4)
        return Date() < expiration.addingTimeInterval(-margin)
    }

    func current(timeout: Duration) throws(DestinationError) -> S3Credentials {
        condition.lock()
        defer { condition.unlock() }
        if isUsableLocked { return credentials }
        // While refreshing fails, the refresher's backoff holds: requests fail at once rather
        // than each forcing another attempt (a service with many paths would hammer STS).
        let backingOff = failuresInARow > 0 && (refreshAt ?? .distantPast) > Date()
        if !backingOff {
            let deadline = Date().addingTimeInterval(timeout.timeInterval)
            let before = attempts
            refreshRequested = true
            condition.broadcast()
            while attempts == before && !stopped && Date() < deadline { _ = condition.wait(until: deadline) }
            if isUsableLocked { return credentials }
        }
        throw DestinationError(
            operation: "sign requests for", location: "S3",
            reason: .configuration("the AWS credentials from \(provider.name) have expired and refreshing them failed: \(problem ?? "no answer yet")"),
            attempts: 0, isTransient: true, hint: "narsync keeps trying to refresh them; the paths wait in the queue")
    }

    func refresh(rejecting accessKeyID: String, then: @escaping @Sendable () -> Void) {
        condition.lock()
        guard credentials.accessKeyID == accessKeyID, !stopped else {
            // Already replaced (or shutting down): the caller retries with what is there.
            condition.unlock()
            return then()
        }
        rejectedKeyID = accessKeyID
        refreshRequested = true
        afterAttempt.append(then)
        condition.broadcast()
        condition.unlock()
    }

    func stop() {
        let waiting = locked {
            stopped = true
            condition.broadcast()
            defer { afterAttempt.removeAll() }
            return afterAttempt
        }
        waiting.forEach { $0() }
    }

    /// The thread's loop: sleeps until a refresh is due or asked for, refreshes, tells.
    func run() {
        while true {
            condition.lock()
            while !stopped && !refreshRequested {
                let due = nextAttemptLocked
                if let due, due <= Date() { break }
                // At most an hour at a time: Foundation traps on waits far in the future (year 2999).
                _ = condition.wait(until: min(due ?? .distantFuture, Date().addingTimeInterval(3600)))
            }
            if stopped {
                condition.unlock()
                return
            }
            refreshRequested = false
            condition.unlock()

            let result = Result { try provider.fetch() }

            condition.lock()
            let (message, waiting, observer, status) = record(result)
            condition.broadcast()
            condition.unlock()
            if let message { message() }
            waiting.forEach { $0() }
            observer?(status)
        }
    }

    /// When the loop must try next by itself: the refresh time, or the backoff after failures.
    private var nextAttemptLocked: Date? { refreshAt }

    /// Takes a refresh's result in; returns what to log (once per change of state), the
    /// callbacks to run and what to tell the observer, all to be done outside the lock.
    private func record(_ result: Result<S3Credentials, any Error>) -> (
        (() -> Void)?, [@Sendable () -> Void], (@Sendable (CredentialStatus) -> Void)?, CredentialStatus
    ) {
        attempts += 1
        var message: (() -> Void)?
        switch result {
        case .success(let fresh):
            let recovered = failuresInARow > 0
            let changedKey = fresh.accessKeyID != credentials.accessKeyID
            credentials = fresh
            obtainedAt = Date()
            rejectedKeyID = nil
            failuresInARow = 0
            problem = nil
            refreshAt = fresh.expiration.map { RefreshSchedule.refreshTime(obtained: Date(), expiration: $0) }
            var metadata: Logger.Metadata = ["source": "\(fresh.source)", "access key": "\(fresh.accessKeyID)"]
            if let expiration = fresh.expiration { metadata["expires"] = "\(expiration)" }
            let logger = logger
            if recovered {
                message = { logger.notice("refreshing AWS credentials works again", metadata: metadata) }
            } else if changedKey {
                message = { logger.info("refreshed AWS credentials", metadata: metadata) }
            } else {
                message = { logger.debug("refreshed AWS credentials", metadata: metadata) }
            }
        case .failure(let error):
            failuresInARow += 1
            failuresTotal += 1
            let text = "\(error)"
            let changed = text != problem
            problem = text
            let delay = RefreshSchedule.retryDelay(failures: failuresInARow)
            refreshAt = Date().addingTimeInterval(delay)
            if changed {
                let logger = logger
                let expiry = credentials.expiration.map { "they expire at \($0)" } ?? "they do not expire"
                let source = provider.name
                message = { logger.error("refreshing AWS credentials from \(source) failed: \(text); \(expiry); trying again with backoff") }
            }
        }
        defer { afterAttempt.removeAll() }
        return (message, afterAttempt, observer, statusLocked)
    }
}

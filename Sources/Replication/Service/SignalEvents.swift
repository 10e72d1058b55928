import Foundation
import SystemSupport

/// What a signal asks of the service. When events merge, `stop` wins.
public enum SignalEvent: Int, Comparable, Sendable {
    /// SIGHUP: reload the configuration.
    case reload = 0
    /// SIGTERM or SIGINT: stop taking work, finish what is in flight, exit.
    case stop = 1

    public static func < (lhs: SignalEvent, rhs: SignalEvent) -> Bool { lhs.rawValue < rhs.rawValue }

    init?(signal: Int32) {
        switch signal {
        case SIGHUP: self = .reload
        case SIGTERM, SIGINT: self = .stop
        default: return nil
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP as an `AsyncStream` of `SignalEvent`s.
///
/// While any `SignalEvents` is started, a handler for the three signals writes the signal's
/// number into a pipe (the self-pipe trick), and a thread reads the pipe and hands the events
/// to every started `SignalEvents`. A handler catches the signal on whichever thread the kernel
/// picks; blocking the signals and calling sigwait(2) instead would only work if they were
/// blocked before any thread existed, which an async `main` cannot promise, and one thread
/// that had not blocked them would let the default action kill the process.
///
/// Keep it started until the process exits: while it is, these signals never kill the process
/// (a second SIGTERM during shutdown is the service's to interpret). When the last one is
/// cancelled, the default actions come back. Programs narsync executes start with defaults.
public final class SignalEvents: Sendable {
    public let events: AsyncStream<SignalEvent>
    private let relay: SignalRelay
    private let subscription: Int

    /// Starts turning the signals into events. Once it returns, a signal is never lost.
    public static func start() throws -> SignalEvents {
        let relay = try SignalRelay.shared.get()
        let (stream, continuation) = AsyncStream.makeStream(of: SignalEvent.self, bufferingPolicy: .bufferingNewest(1))
        return SignalEvents(events: stream, relay: relay, subscription: try relay.subscribe(continuation))
    }

    private init(events: AsyncStream<SignalEvent>, relay: SignalRelay, subscription: Int) {
        self.events = events
        self.relay = relay
        self.subscription = subscription
    }

    deinit { cancel() }

    /// Stops producing events and finishes `events`.
    public func cancel() { relay.unsubscribe(subscription) }
}

/// The write end of the pipe, for the signal handler, which can reach only globals. Set once,
/// before any handler is installed, and never changed.
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// Runs in signal context: only async-signal-safe calls (write(2)), errno preserved.
private func relaySignal(_ signal: Int32) {
    let savedErrno = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    // A full pipe already holds plenty of signals for the reader; dropping this one is fine.
    _ = write(signalPipeWriteEnd, &byte, 1)
    errno = savedErrno
}

/// The process-wide half: the handlers, the pipe and the thread that reads it.
private final class SignalRelay: @unchecked Sendable {
    static let shared = Result { try SignalRelay() }

    static let signals = [SIGTERM, SIGINT, SIGHUP]

    private let readEnd: FileDescriptor
    private let lock = NSLock()
    private var subscribers: [Int: AsyncStream<SignalEvent>.Continuation] = [:]
    private var nextSubscription = 0

    private init() throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SystemError("cannot create a pipe", "signal handling") }
        readEnd = FileDescriptor(owning: ends[0])
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // The handler must never block; the reader thread may.
        _ = fcntl(ends[1], F_SETFL, O_NONBLOCK)
        signalPipeWriteEnd = ends[1]

        let thread = Thread { [self] in run() }
        thread.name = "signals"
        thread.stackSize = 128 * 1024
        thread.start()
    }

    func subscribe(_ continuation: AsyncStream<SignalEvent>.Continuation) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        if subscribers.isEmpty { try setHandlers(relaySignal) }
        nextSubscription += 1
        subscribers[nextSubscription] = continuation
        return nextSubscription
    }

    func unsubscribe(_ subscription: Int) {
        lock.lock()
        let continuation = subscribers.removeValue(forKey: subscription)
        if continuation != nil && subscribers.isEmpty { try? setHandlers(nil) }
        lock.unlock()
        continuation?.finish()
    }

    /// Installs `handler` for the signals, or restores their default action (exit) for nil.
    private func setHandlers(_ handler: (@convention(c) (Int32) -> Void)?) throws {
        for signal in Self.signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = handler ?? SIG_DFL
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            guard sigaction(signal, &action, nil) == 0 else {
                throw SystemError("cannot install a handler for", String(cString: strsignal(signal)))
            }
        }
    }

    private func run() {
        // Dispatch's worker threads, the cooperative pool among them, block every signal, and
        // threads inherit the mask of their creator. This thread unblocks the three, so that
        // a signal sent to the process always has a thread to run the handler on.
        var handled = sigset_t()
        sigemptyset(&handled)
        for signal in Self.signals { sigaddset(&handled, signal) }
        pthread_sigmask(SIG_UNBLOCK, &handled, nil)

        var byte: UInt8 = 0
        while true {
            let count = withUnsafeMutableBytes(of: &byte) { (try? readEnd.read(into: $0, path: "signal pipe")) ?? 0 }
            guard count == 1 else { return }
            guard let event = SignalEvent(signal: Int32(byte)) else { continue }
            lock.lock()
            let continuations = Array(subscribers.values)
            lock.unlock()
            continuations.forEach { $0.yieldKeepingStrongest(event) }
        }
    }
}

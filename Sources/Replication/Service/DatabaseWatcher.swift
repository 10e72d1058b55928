import Foundation
import SystemSupport

/// Wakes narsync when the Nix database may have new valid paths.
///
/// An inotify watch on the database directory, read on a dedicated thread that sleeps in
/// poll(2) until an event, the next deadline of its `WakeDebouncer` or `stop()`: idle, it
/// costs no CPU but one wake per `recheckInterval`. Events are merged into `wakes`, which
/// buffers one wake (a wake is a wake; a pending stronger reason is kept).
///
/// Start the watcher before the catch-up query, so that a commit between the two still wakes.
public final class DatabaseWatcher: Sendable {
    /// The directory watched, e.g. `/nix/var/nix/db`.
    public let directory: String
    /// The wakes; finishes after `stop()`.
    public let wakes: AsyncStream<WakeReason>
    private let stopper: Stopper

    /// Which inotify events are asked for; `isDatabaseChange` picks among them.
    static let eventMask = IN_MODIFY | IN_CREATE | IN_MOVED_TO

    /// - Parameter databaseDirectory: the directory of `db.sqlite`, e.g. `/nix/var/nix/db`.
    public init(databaseDirectory: String, timing: WatchTiming = WatchTiming()) throws {
        directory = databaseDirectory
        let inotify = try InotifyWatch(directory: databaseDirectory, mask: Self.eventMask)
        stopper = try Stopper()
        let (stream, continuation) = AsyncStream.makeStream(of: WakeReason.self, bufferingPolicy: .bufferingNewest(1))
        wakes = stream
        continuation.onTermination = { [stopper] _ in stopper.stop() }
        let loop = WatchLoop(inotify: inotify, stopper: stopper, continuation: continuation, timing: timing)
        let thread = Thread { loop.run() }
        thread.name = "db-watcher"
        thread.stackSize = 256 * 1024
        thread.start()
    }

    deinit { stopper.stop() }

    /// Stops watching and finishes `wakes`. Safe to call more than once.
    public func stop() { stopper.stop() }

    /// Whether an event in the database directory can mean a committed change.
    ///
    /// A commit in WAL mode (Nix's default) writes frames to `db.sqlite-wal` and, at
    /// checkpoints, pages to `db.sqlite`, both with write(2): IN_MODIFY. `db.sqlite-shm` is
    /// written through mmap, which inotify does not see, and is touched by readers too.
    /// IN_CLOSE_WRITE and IN_CREATE of the WAL are ignored on purpose: narsync's own read-only
    /// connection opens and creates the WAL and shm files, so counting them would make every
    /// query wake the watcher again. A `db.sqlite` created or moved in is a new database.
    static func isDatabaseChange(_ event: InotifyEvent) -> Bool {
        switch event.name {
        case "db.sqlite": event.has(IN_MODIFY) || event.has(IN_CREATE) || event.has(IN_MOVED_TO)
        case "db.sqlite-wal": event.has(IN_MODIFY)
        default: false
        }
    }

    /// The reason an event gives to wake, if any.
    static func wakeReason(for event: InotifyEvent) -> WakeReason? {
        // Events were lost (queue overflow), or the watch is gone (directory deleted or
        // unmounted) and only the periodic re-check is left: either way, what happened is unknown.
        if event.has(IN_Q_OVERFLOW) || event.has(IN_IGNORED) { return .overflow }
        return isDatabaseChange(event) ? .changed : nil
    }
}

/// The watcher thread: waits in poll(2), feeds the debouncer, yields its wakes.
private final class WatchLoop: @unchecked Sendable {
    let inotify: InotifyWatch
    let stopper: Stopper
    let continuation: AsyncStream<WakeReason>.Continuation
    var debouncer: WakeDebouncer
    let clock = ContinuousClock()

    init(inotify: InotifyWatch, stopper: Stopper, continuation: AsyncStream<WakeReason>.Continuation, timing: WatchTiming) {
        self.inotify = inotify
        self.stopper = stopper
        self.continuation = continuation
        debouncer = WakeDebouncer(timing: timing, now: clock.now)
    }

    func run() {
        defer { continuation.finish() }
        while true {
            let now = clock.now
            if let reason = debouncer.wake(at: now) { continuation.yieldKeepingStrongest(reason) }
            var descriptors = [
                pollfd(fd: inotify.descriptor.rawValue, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stopper.readEnd.rawValue, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&descriptors, 2, Self.milliseconds(from: now, to: debouncer.deadline))
            if ready < 0 && errno == EINTR { continue }
            // poll fails only for programming errors (EFAULT, EINVAL) or ENOMEM; stopping
            // finishes `wakes`, which the service treats as fatal.
            guard ready >= 0, descriptors[1].revents == 0 else { return }
            guard descriptors[0].revents != 0 else { continue }
            guard let events = try? inotify.readEvents() else { return }
            let seen = clock.now
            for event in events {
                if let reason = DatabaseWatcher.wakeReason(for: event) { debouncer.record(reason, at: seen) }
            }
        }
    }

    /// A poll(2) timeout: whole milliseconds, rounded up so the deadline has passed on return.
    static func milliseconds(from now: ContinuousClock.Instant, to deadline: ContinuousClock.Instant) -> Int32 {
        let (seconds, attoseconds) = (deadline - now).components
        guard seconds >= 0, seconds < Int64(Int32.max / 1000) - 1 else { return seconds < 0 ? 0 : Int32.max }
        return Int32(seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }
}

/// A pipe whose readable end tells the watcher thread to stop. Both ends live as long as either
/// side, so a late `stop()` never writes into a closed pipe (SIGPIPE).
private final class Stopper: Sendable {
    let readEnd: FileDescriptor
    let writeEnd: FileDescriptor

    init() throws {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw SystemError("cannot create a pipe", "database watcher") }
        readEnd = FileDescriptor(owning: ends[0])
        writeEnd = FileDescriptor(owning: ends[1])
        for fd in ends {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
    }

    func stop() {
        var byte: UInt8 = 1
        // A full pipe already says stop; the result does not matter.
        _ = Glibc.write(writeEnd.rawValue, &byte, 1)
    }
}

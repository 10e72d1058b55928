/// Why the database watcher woke its consumer. When wakes merge, the stronger reason wins.
public enum WakeReason: Int, Comparable, Sendable, CustomStringConvertible {
    /// No event; the slow periodic re-check that catches anything an event could have missed.
    case periodic = 0
    /// The Nix database changed: query `ValidPaths` above the watermark.
    case changed = 1
    /// The kernel dropped events (inotify queue overflow) or the watch was lost: events may be
    /// missing, so re-read in full rather than trusting them.
    case overflow = 2

    public static func < (lhs: WakeReason, rhs: WakeReason) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .periodic: "periodic re-check"
        case .changed: "database changed"
        case .overflow: "inotify overflow"
        }
    }
}

/// How the watcher turns a stream of file events into few wakes.
///
/// The first event after a quiet spell wakes at once: a path Nix commits while narsync is idle
/// is published without waiting. Only events that follow another by less than `debounceWindow`
/// (a build registering many paths, a `nix copy` into the store) are batched.
public struct WatchTiming: Sendable, Equatable {
    /// In a storm (events less than this apart), a wake waits until no event has come for this
    /// long, so a build registering many paths produces few queries, not one per path.
    public var debounceWindow: Duration
    /// ...but never longer than this after the first event, so a long storm still flushes.
    public var maximumDelay: Duration
    /// A wake comes at least this often even without events.
    public var recheckInterval: Duration
    /// The first event after a quiet spell wakes this much later: SQLite writes a commit's pages
    /// one write at a time, and the query should come after the last of them, not between.
    public var commitSettle: Duration

    public init(debounceWindow: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(1),
                recheckInterval: Duration = .seconds(30), commitSettle: Duration = .milliseconds(2)) {
        self.debounceWindow = debounceWindow
        self.maximumDelay = maximumDelay
        self.recheckInterval = recheckInterval
        self.commitSettle = commitSettle
    }
}

/// The watcher's timing as a plain value: events go in with `record`, wakes come out of
/// `wake(at:)`, and `deadline` says when to look next. It never reads a clock itself, so tests
/// drive it with made-up times and events (overflows included).
public struct WakeDebouncer: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public let timing: WatchTiming
    private var pending: WakeReason?
    /// Whether the pending wake is due at once (after `commitSettle`): its first event came
    /// after a quiet spell.
    private var pendingIsImmediate = false
    private var firstEvent: Instant?
    private var lastEvent: Instant?
    /// The latest event ever recorded, across wakes: what tells a storm from a quiet spell.
    private var previousEvent: Instant?
    private var nextRecheck: Instant

    public init(timing: WatchTiming, now: Instant) {
        self.timing = timing
        nextRecheck = now + timing.recheckInterval
    }

    /// An event seen at `now`.
    public mutating func record(_ reason: WakeReason, at now: Instant) {
        if firstEvent == nil {
            firstEvent = now
            pendingIsImmediate = previousEvent.map { now - $0 >= timing.debounceWindow } ?? true
        }
        pending = max(pending ?? reason, reason)
        lastEvent = now
        previousEvent = now
    }

    /// The time at which `wake(at:)` will next return a reason.
    public var deadline: Instant {
        guard let firstEvent, let lastEvent else { return nextRecheck }
        if pendingIsImmediate { return firstEvent + timing.commitSettle }
        return min(lastEvent + timing.debounceWindow, firstEvent + timing.maximumDelay)
    }

    /// The wake due at `now`, merging every event since the last one, or nil if none is due.
    public mutating func wake(at now: Instant) -> WakeReason? {
        guard now >= deadline else { return nil }
        let reason = pending ?? .periodic
        pending = nil
        pendingIsImmediate = false
        firstEvent = nil
        lastEvent = nil
        // Any wake runs the query, so the re-check is due a full interval after the last wake.
        nextRecheck = now + timing.recheckInterval
        return reason
    }
}

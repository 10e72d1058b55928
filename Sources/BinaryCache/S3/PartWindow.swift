import Foundation

/// The part sizes of a multipart upload whose length is unknown when it starts: `initial` for
/// the first 1,000 parts, doubling every 1,000 parts after. 10,000 parts, S3's limit, then hold
/// 1,023,000 × `initial` bytes (8 TiB from the default 8 MiB, beyond S3's 5 TiB object limit),
/// and no part exceeds S3's 5 GiB. A function of `initial` alone, so a resumed upload cuts its bytes
/// exactly where the interrupted one did.
///
/// `maximum` caps the growth where a server limits requests further (R2 behind Cloudflare's
/// proxy, 100 MB); it too must be the same when an upload resumes, and is: it comes from the
/// endpoint.
struct PartSizing: Sendable {
    static let maximumParts = 10_000
    static let maximumPartSize = 5 << 30
    let initial: Int
    var maximum = PartSizing.maximumPartSize

    func size(ofPart number: Int) -> Int {
        min(maximum, initial << min((number - 1) / 1000, 9))
    }
}

/// Bounds the parts in flight across all uploads of a destination, and with them the bytes
/// held in memory (parts in flight × part size).
final class PartWindow: @unchecked Sendable {
    let limit: Int
    /// Guards the window and every tracker's state; waiters are woken by any finished part.
    fileprivate let condition = NSCondition()
    fileprivate var inFlight = 0

    init(limit: Int) {
        self.limit = max(1, limit)
    }
}

/// What became of one part sent.
enum PartOutcome: Sendable {
    case stored(StoredPart)
    case failed(DestinationError)
}

/// One upload's parts in flight and finished parts not yet handled by the uploading thread
/// (which alone calls the journal).
final class PartTracker: @unchecked Sendable {
    private let window: PartWindow
    private var inFlight = 0
    private var finished: [PartOutcome] = []

    init(window: PartWindow) {
        self.window = window
    }

    /// Blocks until a part may be sent (then takes its place in the window and returns an
    /// empty list) or parts of this upload finished meanwhile (then returns them, taking no
    /// place: the caller handles them and asks again).
    func reserve() -> [PartOutcome] {
        window.condition.lock()
        defer { window.condition.unlock() }
        while window.inFlight >= window.limit && finished.isEmpty { window.condition.wait() }
        if !finished.isEmpty { return takeFinished() }
        window.inFlight += 1
        inFlight += 1
        return []
    }

    /// Called on the driver thread when a part reserved for has its outcome.
    func partFinished(_ outcome: PartOutcome) {
        window.condition.lock()
        window.inFlight -= 1
        inFlight -= 1
        finished.append(outcome)
        window.condition.broadcast()
        window.condition.unlock()
    }

    /// The parts finished since the last call, without waiting.
    func finishedSoFar() -> [PartOutcome] {
        window.condition.lock()
        defer { window.condition.unlock() }
        return takeFinished()
    }

    /// The parts finished since the last call, waiting for one if none has and some are in
    /// flight; nil once every part has finished and been handed out.
    func nextFinished() -> [PartOutcome]? {
        window.condition.lock()
        defer { window.condition.unlock() }
        while finished.isEmpty && inFlight > 0 { window.condition.wait() }
        return finished.isEmpty ? nil : takeFinished()
    }

    private func takeFinished() -> [PartOutcome] {
        defer { finished.removeAll() }
        return finished
    }
}

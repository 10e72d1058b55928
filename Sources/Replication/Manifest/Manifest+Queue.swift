import Foundation
import NixStore
import SQLite
import SystemSupport

/// Why a path is queued; higher priorities are published first.
public enum QueuePriority: Int, Comparable, Codable, Sendable, CaseIterable {
    /// Found by `--initial-backfill` or another bulk scan.
    case backfill = 0
    /// Found by the database watcher.
    case watcher = 1
    /// Announced by Nix's post-build hook: someone is waiting for it.
    case hook = 2

    public static func < (lhs: QueuePriority, rhs: QueuePriority) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A path to put in the queue.
public struct QueuedPath: Sendable, Equatable {
    public var path: StorePath
    public var priority: QueuePriority
    /// Where it came from, for `narsync status` and logs (e.g. "ValidPaths id 1234").
    public var reason: String

    public init(path: StorePath, priority: QueuePriority, reason: String) {
        self.path = path
        self.priority = priority
        self.reason = reason
    }
}

/// A path waiting in the queue.
public struct QueueEntry: Sendable, Equatable {
    public var path: StorePath
    public var priority: QueuePriority
    public var reason: String
    public var enqueuedAt: Date
    /// Failed attempts so far.
    public var attempts: Int
    /// The message of the latest failure.
    public var lastError: String?
    /// Not to be tried before this time.
    public var nextAttemptAt: Date
}

extension Manifest {
    /// Queues `paths` for `destination`, and, in the same transaction, advances the watermark
    /// to the `ValidPaths` id they were found up to, so a crash can never record the watermark
    /// without the paths.
    ///
    /// A path already queued stays queued once, with the higher of the two priorities (its
    /// backoff is kept: a failure is not retried sooner because the path was announced again).
    /// A path already published is not queued.
    /// - Returns: how many paths were newly queued.
    @discardableResult
    public func enqueue(
        _ paths: [QueuedPath],
        for destination: String,
        advancingWatermarkTo watermark: Int64? = nil,
        now: Date = Date()
    ) throws -> Int {
        try write { database in
            let destinationID = try destinationID(destination, in: database)
            var added = 0
            for queued in paths {
                let key: [SQLiteValue] = [.integer(destinationID), .text(queued.path.baseName)]
                guard try !isPublished(key, in: database) else { continue }
                let updated = try database.run("""
                    UPDATE queue SET priority = ?3, reason = ?4
                    WHERE destination = ?1 AND path = ?2 AND priority < ?3
                    """, key + [.integer(Int64(queued.priority.rawValue)), .text(queued.reason)])
                guard updated == 0 else { continue }
                added += try database.run("""
                    INSERT OR IGNORE INTO queue (destination, path, priority, reason, enqueued_at, next_attempt_at)
                    VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                    """, key + [.integer(Int64(queued.priority.rawValue)), .text(queued.reason), .integer(now.manifestTime)])
            }
            if let watermark {
                try database.run("UPDATE destinations SET watermark = ? WHERE id = ?", [.integer(watermark), .integer(destinationID)])
            }
            return added
        }
    }

    /// Up to `limit` queued paths due at `now`, highest priority first, then in enqueue order.
    ///
    /// Entries stay queued until `markPublished`, `markFailed` or `drop`; a crash while they are
    /// being published leaves them here for the next run. Pass the paths being worked on as
    /// `excluding` to get the ones after them.
    public func nextBatch(
        for destination: String,
        limit: Int,
        now: Date = Date(),
        excluding: Set<StorePath> = []
    ) throws -> [QueueEntry] {
        try read { database in
            guard limit > 0, let destinationID = try existingDestinationID(destination, in: database) else { return [] }
            var entries: [QueueEntry] = []
            let statement = """
                SELECT path, priority, reason, enqueued_at, attempts, last_error, next_attempt_at FROM queue
                WHERE destination = ? AND next_attempt_at <= ? ORDER BY priority DESC, id LIMIT ?
                """
            try database.query(statement, [.integer(destinationID), .integer(now.manifestTime), .integer(Int64(limit + excluding.count))]) { row in
                guard entries.count < limit else { return }
                let path = try storePath(row.string(0))
                guard !excluding.contains(path) else { return }
                entries.append(QueueEntry(
                    path: path,
                    priority: QueuePriority(rawValue: Int(row.int64(1))) ?? .backfill,
                    reason: row.string(2),
                    enqueuedAt: Date(manifestTime: row.int64(3)),
                    attempts: Int(row.int64(4)),
                    lastError: row.optionalString(5),
                    nextAttemptAt: Date(manifestTime: row.int64(6))
                ))
            }
            return entries
        }
    }

    /// When the earliest queued path is due, or nil if the queue is empty: how long the service
    /// may sleep when nothing else wakes it.
    public func nextAttemptDate(for destination: String) throws -> Date? {
        try read { database in
            guard let destinationID = try existingDestinationID(destination, in: database) else { return nil }
            var earliest: Date?
            try database.query("SELECT min(next_attempt_at) FROM queue WHERE destination = ?", [.integer(destinationID)]) { row in
                earliest = row.optionalInt64(0).map(Date.init(manifestTime:))
            }
            return earliest
        }
    }

    /// Records a failed attempt: the path stays queued and waits by `retryPolicy` before it is
    /// due again. Never drops it.
    /// - Returns: when it is due again, or nil if it was not queued.
    @discardableResult
    public func markFailed(_ path: StorePath, for destination: String, error message: String, now: Date = Date()) throws -> Date? {
        try write { database in
            let key: [SQLiteValue] = [.integer(try destinationID(destination, in: database)), .text(path.baseName)]
            var attempts: Int?
            try database.query("SELECT attempts FROM queue WHERE destination = ? AND path = ?", key) { attempts = Int($0.int64(0)) + 1 }
            guard let attempts else { return nil }
            let nextAttempt = now.addingTimeInterval(retryPolicy.delay(afterAttempts: attempts).timeInterval)
            try database.run("""
                UPDATE queue SET attempts = ?3, last_error = ?4, last_attempt_at = ?5, next_attempt_at = ?6
                WHERE destination = ?1 AND path = ?2
                """, key + [.integer(Int64(attempts)), .text(message), .integer(now.manifestTime), .integer(nextAttempt.manifestTime)])
            return nextAttempt
        }
    }

    /// Takes a path out of the queue without publishing it, because it can no longer be
    /// (Nix collected it). The caller logs it; the manifest keeps the newest drops for status.
    /// - Returns: whether it was queued.
    @discardableResult
    public func drop(_ path: StorePath, for destination: String, reason: String, now: Date = Date()) throws -> Bool {
        try write { database in
            let destinationID = try destinationID(destination, in: database)
            let removed = try database.run("DELETE FROM queue WHERE destination = ? AND path = ?",
                                           [.integer(destinationID), .text(path.baseName)])
            guard removed > 0 else { return false }
            try database.run("INSERT INTO dropped (destination, path, reason, dropped_at) VALUES (?, ?, ?, ?)",
                             [.integer(destinationID), .text(path.baseName), .text(reason), .integer(now.manifestTime)])
            try database.run("""
                DELETE FROM dropped WHERE destination = ?1 AND id <= (
                    SELECT id FROM dropped WHERE destination = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)
                """, [.integer(destinationID), .integer(Int64(Self.droppedPathsKept))])
            return true
        }
    }

    /// How many dropped paths the manifest remembers per destination.
    static let droppedPathsKept = 1000
}

import Foundation
import SQLite

/// What `narsync status` shows for one destination; `Codable` for `--json` (encode dates with
/// `.iso8601`).
public struct ManifestStatus: Sendable, Equatable, Codable {
    public var destination: String
    /// The highest Nix `ValidPaths` id handled; the lag is the newest id minus this.
    public var watermark: Int64?
    /// Paths waiting to be published, including those waiting after a failure.
    public var queued: Int
    /// Queued paths that failed at least once.
    public var retrying: Int
    public var published: Int
    /// Compressed bytes of the published NARs.
    public var publishedFileBytes: Int64
    /// Uncompressed bytes of the published NARs.
    public var publishedNarBytes: Int64
    /// Multipart uploads started and not yet completed or aborted.
    public var uploadsInFlight: Int
    /// The latest failures of queued paths, newest first.
    public var recentErrors: [PathFailure]
    /// The latest paths dropped from the queue, newest first.
    public var recentDrops: [DroppedPath]

    /// How many `ValidPaths` rows are not handled yet, given the newest id in the Nix database.
    public func lag(newestDatabaseID: Int64) -> Int64 {
        max(0, newestDatabaseID - (watermark ?? 0))
    }
}

/// A queued path's latest failure.
public struct PathFailure: Sendable, Equatable, Codable {
    public var path: String
    public var attempts: Int
    public var error: String
    public var failedAt: Date
    public var nextAttemptAt: Date
}

/// A path taken out of the queue unpublished.
public struct DroppedPath: Sendable, Equatable, Codable {
    public var path: String
    public var reason: String
    public var droppedAt: Date
}

extension Manifest {
    /// The numbers of `destination` and its latest `recentCount` failures and drops.
    public func status(for destination: String, recentCount: Int = 10) throws -> ManifestStatus {
        try read { database in
            var status = ManifestStatus(destination: destination, watermark: nil, queued: 0, retrying: 0, published: 0,
                                        publishedFileBytes: 0, publishedNarBytes: 0, uploadsInFlight: 0,
                                        recentErrors: [], recentDrops: [])
            guard let destinationID = try existingDestinationID(destination, in: database) else { return status }
            let ofDestination: [SQLiteValue] = [.integer(destinationID)]
            let recent: [SQLiteValue] = ofDestination + [.integer(Int64(recentCount))]
            try database.query("SELECT watermark FROM destinations WHERE id = ?1", ofDestination) { status.watermark = $0.optionalInt64(0) }
            try database.query("SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM queue WHERE destination = ?1", ofDestination) {
                status.queued = Int($0.int64(0))
                status.retrying = Int($0.int64(1))
            }
            try database.query("SELECT count(*), sum(file_size), sum(nar_size) FROM published WHERE destination = ?1", ofDestination) {
                status.published = Int($0.int64(0))
                status.publishedFileBytes = $0.int64(1)
                status.publishedNarBytes = $0.int64(2)
            }
            try database.query("SELECT count(*) FROM uploads WHERE destination = ?1", ofDestination) { status.uploadsInFlight = Int($0.int64(0)) }
            try database.query("""
                SELECT path, attempts, last_error, last_attempt_at, next_attempt_at FROM queue
                WHERE destination = ?1 AND last_error IS NOT NULL ORDER BY last_attempt_at DESC, id DESC LIMIT ?2
                """, recent) { row in
                status.recentErrors.append(PathFailure(
                    path: row.string(0), attempts: Int(row.int64(1)), error: row.string(2),
                    failedAt: Date(manifestTime: row.int64(3)), nextAttemptAt: Date(manifestTime: row.int64(4))))
            }
            try database.query("SELECT path, reason, dropped_at FROM dropped WHERE destination = ?1 ORDER BY id DESC LIMIT ?2", recent) { row in
                status.recentDrops.append(DroppedPath(path: row.string(0), reason: row.string(1), droppedAt: Date(manifestTime: row.int64(2))))
            }
            return status
        }
    }
}

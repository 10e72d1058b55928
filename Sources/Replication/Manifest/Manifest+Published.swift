import Foundation
import NixStore
import SQLite

/// A path whose narinfo and NAR are in the cache, as the manifest remembers it.
public struct PublishedPath: Sendable, Equatable {
    public var path: StorePath
    /// The compressed NAR's key in the cache, e.g. `nar/<nix32>.nar.zst`.
    public var narKey: String
    /// The compressed NAR's hash as the narinfo's `FileHash` gives it (`sha256:<nix32>`).
    public var fileHash: String
    /// The compressed NAR's size in bytes.
    public var fileSize: Int64
    /// The uncompressed NAR's size in bytes.
    public var narSize: Int64

    public init(path: StorePath, narKey: String, fileHash: String, fileSize: Int64, narSize: Int64) {
        self.path = path
        self.narKey = narKey
        self.fileHash = fileHash
        self.fileSize = fileSize
        self.narSize = narSize
    }
}

extension Manifest {
    /// Records that `records` are published at `destination` and takes them out of its queue,
    /// in one transaction. Once recorded, a restart does not ask the cache about them again.
    public func markPublished(_ records: [PublishedPath], for destination: String, now: Date = Date()) throws {
        try write { database in
            let destinationID = try destinationID(destination, in: database)
            for record in records {
                let key: [SQLiteValue] = [.integer(destinationID), .text(record.path.baseName)]
                try database.run("DELETE FROM queue WHERE destination = ? AND path = ?", key)
                try database.run("""
                    INSERT OR REPLACE INTO published (destination, path, nar_key, file_hash, file_size, nar_size, published_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, key + [.text(record.narKey), .text(record.fileHash), .integer(record.fileSize),
                                .integer(record.narSize), .integer(now.manifestTime)])
            }
        }
    }

    /// Records one published path; see `markPublished(_:for:now:)`.
    public func markPublished(_ record: PublishedPath, for destination: String, now: Date = Date()) throws {
        try markPublished([record], for: destination, now: now)
    }

    /// Whether `path` is recorded as published at `destination`.
    public func isPublished(_ path: StorePath, for destination: String) throws -> Bool {
        try !publishedSet(of: [path], for: destination).isEmpty
    }

    /// Those of `paths` recorded as published at `destination`; for filtering a batch at once.
    public func publishedSet(of paths: some Sequence<StorePath>, for destination: String) throws -> Set<StorePath> {
        try read { database in
            guard let destinationID = try existingDestinationID(destination, in: database) else { return [] }
            var published: Set<StorePath> = []
            for path in paths where try isPublished([.integer(destinationID), .text(path.baseName)], in: database) {
                published.insert(path)
            }
            return published
        }
    }

    /// The record of a published path, or nil.
    public func publishedRecord(of path: StorePath, for destination: String) throws -> PublishedPath? {
        try read { database in
            guard let destinationID = try existingDestinationID(destination, in: database) else { return nil }
            var record: PublishedPath?
            try database.query("""
                SELECT nar_key, file_hash, file_size, nar_size FROM published WHERE destination = ? AND path = ?
                """, [.integer(destinationID), .text(path.baseName)]) { row in
                record = PublishedPath(path: path, narKey: row.string(0), fileHash: row.string(1),
                                       fileSize: row.int64(2), narSize: row.int64(3))
            }
            return record
        }
    }

    /// `key` is (destination id, path base name).
    func isPublished(_ key: [SQLiteValue], in database: SQLiteDatabase) throws -> Bool {
        var found = false
        try database.query("SELECT 1 FROM published WHERE destination = ? AND path = ?", key) { _ in found = true }
        return found
    }
}

import Foundation
import NixStore
import SQLite

extension Manifest {
    /// Records that `records` are published at `destination` and takes them out of its queue,
    /// in one transaction. Once recorded, a restart does not ask the cache about them again.
    /// (A record without file details is stored with an empty key, hash and size.)
    public func markPublished(_ records: [PublishedPath], for destination: String, now: Date = Date()) throws {
        try write { database in
            let destinationID = try destinationID(destination, in: database)
            for record in records {
                let key: [SQLiteValue] = [.integer(destinationID), .text(record.path.baseName)]
                try database.run("DELETE FROM queue WHERE destination = ? AND path = ?", key)
                try database.run("""
                    INSERT OR REPLACE INTO published (destination, path, nar_key, file_hash, file_size, nar_size, published_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, key + [.text(record.nar?.key ?? ""), .text(record.nar?.fileHash.nix32 ?? ""),
                                .integer(Int64(record.nar?.fileSize ?? 0)), .integer(Int64(record.narSize)),
                                .integer(now.manifestTime)])
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
                var nar: UploadedNar?
                if !row.string(0).isEmpty {
                    guard let fileHash = try? NixHash(parsing: row.string(1)) else {
                        throw ManifestError.invalidStoredHash(path: self.path, value: row.string(1))
                    }
                    nar = UploadedNar(key: row.string(0), fileHash: fileHash, fileSize: UInt64(max(0, row.int64(2))))
                }
                record = PublishedPath(path: path, narSize: UInt64(max(0, row.int64(3))), nar: nar)
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

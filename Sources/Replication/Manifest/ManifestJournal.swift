import BinaryCache
import Foundation
import SQLite

/// The manifest's record of one destination's multipart uploads, handed to the destination
/// so that a restarted narsync resumes a large upload instead of sending it again.
public struct ManifestJournal: UploadJournal {
    let manifest: Manifest
    public let destination: String

    public func unfinishedUpload(key: String) throws -> UnfinishedUpload? {
        try manifest.read { database in
            guard let destinationID = try manifest.existingDestinationID(destination, in: database) else { return nil }
            var newest: (row: Int64, upload: UnfinishedUpload)?
            // The newest upload of the key: an older one left behind is stale, for `staleUploads`.
            try database.query("""
                SELECT id, upload_id, part_size FROM uploads WHERE destination = ? AND key = ? ORDER BY id DESC LIMIT 1
                """, [.integer(destinationID), .text(key)]) { row in
                newest = (row.int64(0), UnfinishedUpload(key: key, uploadID: row.string(1), partSize: Int(row.int64(2)), parts: []))
            }
            guard let newest else { return nil }
            var unfinished = newest.upload
            try database.query("SELECT number, etag, size, sha256 FROM upload_parts WHERE upload = ? ORDER BY number", [.integer(newest.row)]) {
                unfinished.parts.append(StoredPart(number: Int($0.int64(0)), etag: $0.string(1), size: Int($0.int64(2)), sha256: $0.string(3)))
            }
            return unfinished
        }
    }

    public func uploadStarted(key: String, uploadID: String, partSize: Int) throws {
        try manifest.write { database in
            try database.run("""
                INSERT OR IGNORE INTO uploads (destination, key, upload_id, part_size, started_at) VALUES (?, ?, ?, ?, ?)
                """, [.integer(try manifest.destinationID(destination, in: database)), .text(key), .text(uploadID),
                      .integer(Int64(partSize)), .integer(Date().manifestTime)])
        }
    }

    public func partStored(key: String, uploadID: String, part: StoredPart) throws {
        try manifest.write { database in
            guard let row = try uploadRow(key: key, uploadID: uploadID, in: database) else {
                throw ManifestError.unknownUpload(destination: destination, key: key, uploadID: uploadID)
            }
            // A part sent again (after a crash before it was recorded) replaces the old record.
            try database.run("INSERT OR REPLACE INTO upload_parts (upload, number, etag, size, sha256) VALUES (?, ?, ?, ?, ?)",
                             [.integer(row), .integer(Int64(part.number)), .text(part.etag), .integer(Int64(part.size)), .text(part.sha256)])
        }
    }

    public func uploadEnded(key: String, uploadID: String) throws {
        try manifest.write { database in
            guard let row = try uploadRow(key: key, uploadID: uploadID, in: database) else { return }
            try database.run("DELETE FROM uploads WHERE id = ?", [.integer(row)])
        }
    }

    private func uploadRow(key: String, uploadID: String, in database: SQLiteDatabase) throws -> Int64? {
        guard let destinationID = try manifest.existingDestinationID(destination, in: database) else { return nil }
        var row: Int64?
        try database.query("SELECT id FROM uploads WHERE destination = ? AND key = ? AND upload_id = ?",
                           [.integer(destinationID), .text(key), .text(uploadID)]) { row = $0.int64(0) }
        return row
    }
}

/// A multipart upload started long ago and never completed or aborted.
public struct StaleUpload: Sendable, Equatable, Codable {
    public var key: String
    public var uploadID: String
    public var startedAt: Date
    public var storedParts: Int
}

extension Manifest {
    /// The journal of `destination`'s multipart uploads, for `BinaryCacheDestination.beginUpload`.
    public func journal(for destination: String) -> ManifestJournal {
        ManifestJournal(manifest: self, destination: destination)
    }

    /// Multipart uploads at `destination` started before `date` and still recorded: the caller
    /// aborts them at the destination (their parts cost storage) and then calls `uploadEnded`.
    public func staleUploads(for destination: String, startedBefore date: Date) throws -> [StaleUpload] {
        try read { database in
            guard let destinationID = try existingDestinationID(destination, in: database) else { return [] }
            var uploads: [StaleUpload] = []
            try database.query("""
                SELECT key, upload_id, started_at, (SELECT count(*) FROM upload_parts WHERE upload = uploads.id)
                FROM uploads WHERE destination = ? AND started_at < ? ORDER BY started_at, id
                """, [.integer(destinationID), .integer(date.manifestTime)]) { row in
                uploads.append(StaleUpload(key: row.string(0), uploadID: row.string(1),
                                           startedAt: Date(manifestTime: row.int64(2)), storedParts: Int(row.int64(3))))
            }
            return uploads
        }
    }
}

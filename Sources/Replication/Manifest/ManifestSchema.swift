/// The manifest's tables, as an ordered list of migrations.
///
/// `PRAGMA user_version` holds how many of them a manifest has had; opening one applies the
/// rest, each in its own transaction. Append new migrations, never edit a released one: a
/// manifest written by this version must open in every later one.
enum ManifestSchema {
    static let migrations: [String] = [
        // 1: destinations, the queue, what is published, multipart uploads, dropped paths.
        """
        CREATE TABLE destinations (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            -- The highest Nix ValidPaths id handled; NULL until the first start decides it.
            watermark INTEGER
        );

        -- The rowid is the enqueue order, which breaks ties within a priority.
        CREATE TABLE queue (
            id INTEGER PRIMARY KEY,
            destination INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            priority INTEGER NOT NULL,
            reason TEXT NOT NULL,
            enqueued_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            last_attempt_at INTEGER,
            next_attempt_at INTEGER NOT NULL,
            UNIQUE (destination, path)
        );
        CREATE INDEX queue_in_order ON queue (destination, priority DESC, id);

        CREATE TABLE published (
            destination INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            nar_key TEXT NOT NULL,
            file_hash TEXT NOT NULL,
            file_size INTEGER NOT NULL,
            nar_size INTEGER NOT NULL,
            published_at INTEGER NOT NULL,
            PRIMARY KEY (destination, path)
        ) WITHOUT ROWID;

        -- Keyed by upload id, not only by key: a replaced upload stays listed until it is
        -- ended, so that it can still be aborted instead of leaking its parts in the bucket.
        CREATE TABLE uploads (
            id INTEGER PRIMARY KEY,
            destination INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            upload_id TEXT NOT NULL,
            part_size INTEGER NOT NULL,
            started_at INTEGER NOT NULL,
            UNIQUE (destination, key, upload_id)
        );

        CREATE TABLE upload_parts (
            upload INTEGER NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            etag TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            PRIMARY KEY (upload, number)
        ) WITHOUT ROWID;

        -- Paths taken out of the queue without being published (collected by Nix's GC), kept
        -- so that `narsync status` can show them; pruned to the newest per destination.
        CREATE TABLE dropped (
            id INTEGER PRIMARY KEY,
            destination INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            reason TEXT NOT NULL,
            dropped_at INTEGER NOT NULL
        );
        CREATE INDEX dropped_by_destination ON dropped (destination, id);
        """,
    ]
}

import Foundation
import SQLite

/// Reads Nix's database without writing anything beside it, as a user who may read
/// `/nix/var/nix/db` but not write to it (the service's own user).
///
/// Nix keeps its database in WAL mode. A WAL reader needs the `-wal` file and the `-shm` index
/// beside the database. SQLite (3.22 and later; Debian 12 has 3.40) reads a WAL database
/// read-only when both files exist, even when it may not write `-shm`: it then builds a private
/// index from the WAL at each read and takes its read lock in `-shm` so no checkpoint overwrites
/// what it reads. But the last Nix process to close the database checkpoints and deletes both
/// files, and a reader that may not create them cannot open the database at all ("attempt to
/// write a readonly database", SQLITE_READONLY_DIRECTORY). So:
///
/// - **A live connection** (SQLITE_OPEN_READONLY), whenever the `-wal` file exists: the
///   ordinary reader, which sees every commit. While open, it holds SQLite's SHARED lock on the
///   database file, so no later Nix process can take the EXCLUSIVE lock it needs to delete the
///   `-wal` file: once opened, it stays usable for good.
/// - **A snapshot read**, when there is no `-wal` file and it cannot be created: then every
///   commit is in the database file itself (the WAL is deleted only after a full checkpoint).
///   A read opens the file with `immutable=1` (no locks, no WAL), after taking SQLite's SHARED
///   lock on it through SQLite's own VFS, and checks that no `-wal` file exists with the lock
///   held. The only writes to the database file of a WAL database are checkpoints, and a
///   checkpoint needs a WAL holding frames; a Nix process that starts while the lock is held
///   creates a `-wal` file that it cannot delete before the lock is released (deleting it needs
///   the EXCLUSIVE lock). So if there is still no `-wal` file once the read is done, nothing
///   changed the file during the read and the snapshot is exact; if one appeared, the result is
///   dropped and the read done again, by a live connection.
///
/// A database Nix keeps in rollback-journal mode (`use-sqlite-wal = false`) needs neither: the
/// live connection reads it, with no file beside it.
final class ReadOnlyDatabaseAccess {
    let path: String
    let busyTimeout: Duration
    private var live: SQLiteDatabase?

    init(path: String, busyTimeout: Duration) {
        self.path = path
        self.busyTimeout = busyTimeout
    }

    var walPath: String { path + "-wal" }

    /// Whether reads go through a live connection (false: snapshots, so far).
    var isLive: Bool { live != nil }

    /// Runs `body` on a connection that sees every commit made before it started.
    func read<T>(_ body: (SQLiteDatabase) throws -> T) throws -> T {
        let deadline = ContinuousClock.now + busyTimeout
        var liveError: SQLiteError?
        while true {
            if let live { return try body(live) }
            switch try openLive() {
            case .success(let connection):
                live = connection
                return try body(connection)
            case .failure(let error):
                liveError = error
                if let result = try readSnapshot(body) { return result }
            }
            // A writer holds the EXCLUSIVE lock (a closing Nix checkpointing), a -wal file
            // appeared during the snapshot, or one exists but not yet its -shm (a Nix process
            // opening the database): try again; next time it is likely a live read.
            guard ContinuousClock.now < deadline else {
                throw liveError ?? SQLiteError(code: SQLITE_BUSY_CODE, message: "database is locked", path: path)
            }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }

    /// A live read-only connection, or the error that says this user may not create the files
    /// a WAL reader needs (SQLITE_READONLY_DIRECTORY, or SQLITE_CANTOPEN when one vanished or is
    /// not there yet); any other error is thrown.
    private func openLive() throws -> Result<SQLiteDatabase, SQLiteError> {
        do {
            let connection = try SQLiteDatabase(path: path, mode: .readOnly, busyTimeout: busyTimeout)
            // SQLite opens lazily: the first read finds out whether the WAL can be opened.
            try connection.query("SELECT count(*) FROM sqlite_master") { _ in }
            return .success(connection)
        } catch let error as SQLiteError where Self.isMissingWAL(error) && FileManager.default.fileExists(atPath: path) {
            return .failure(error)
        }
    }

    /// SQLITE_READONLY_DIRECTORY: "cannot create the -wal file"; SQLITE_CANTOPEN: the `-wal`
    /// file was deleted between SQLite's check and its open, or its `-shm` is not there yet.
    private static func isMissingWAL(_ error: SQLiteError) -> Bool {
        error.code == SQLITE_READONLY_DIRECTORY_CODE || error.code & 0xff == SQLITE_CANTOPEN_CODE
    }

    /// One read of the database file alone; nil if it must be tried again.
    private func readSnapshot<T>(_ body: (SQLiteDatabase) throws -> T) throws -> T? {
        let snapshot = try SQLiteDatabase(path: path, mode: .immutable, busyTimeout: busyTimeout)
        guard try snapshot.lockMainFileShared() else { return nil }
        defer { snapshot.unlockMainFile() }
        guard !FileManager.default.fileExists(atPath: walPath) else { return nil }
        let result = try body(snapshot)
        guard !FileManager.default.fileExists(atPath: walPath) else { return nil }
        return result
    }
}

// SQLite's codes, spelled out: Swift does not import the extended codes' macros.
private let SQLITE_BUSY_CODE: Int32 = 5
private let SQLITE_CANTOPEN_CODE: Int32 = 14
private let SQLITE_READONLY_DIRECTORY_CODE: Int32 = 8 | (6 << 8)

import Foundation

extension ReplicationService {
    /// How a `ReplicationService` watches the Nix database and what it publishes.
    public struct Configuration: Sendable {
        public var filter: PathFilter
        /// On the very first start, queue every valid path (at backfill priority) instead of
        /// starting from the current end of the database.
        public var initialBackfill: Bool
        public var timing: WatchTiming
        /// Queue entries published per round; their closures may hold more paths.
        public var batchSize: Int
        /// How long in-flight uploads may take to finish after SIGTERM.
        public var gracePeriod: Duration
        /// Told of each published and failed path (metrics).
        public var progress: (any PublishProgress)?
        /// Multipart uploads recorded in the manifest for longer than this are aborted at start:
        /// their parts cost storage, and a path still queued starts a new upload.
        public var staleUploadAge: Duration
        /// How long a read of the Nix database waits for a lock another process holds (SQLite's
        /// busy timeout) before the read fails, is logged and is tried again at the next wake.
        public var databaseBusyTimeout: Duration

        public init(
            filter: PathFilter = PathFilter(), initialBackfill: Bool = false,
            timing: WatchTiming = WatchTiming(), batchSize: Int = 256, gracePeriod: Duration = .seconds(30),
            staleUploadAge: Duration = .seconds(24 * 3600), databaseBusyTimeout: Duration = .seconds(60),
            progress: (any PublishProgress)? = nil
        ) {
            self.filter = filter
            self.initialBackfill = initialBackfill
            self.timing = timing
            self.batchSize = max(1, batchSize)
            self.gracePeriod = gracePeriod
            self.progress = progress
            self.staleUploadAge = staleUploadAge
            self.databaseBusyTimeout = databaseBusyTimeout
        }
    }
}

import SystemSupport

/// The manifest's one door: every read and write of narsync's state goes through here.
///
/// Async code calls `run`, which runs on the manifest's own thread, so SQLite never blocks
/// Swift's cooperative pool. Code on a dedicated thread of its own (the hook server's, an
/// upload thread) calls `runBlocking`.
///
///     let batch = try await manifest.run { try $0.nextBatch(for: destination, limit: 64) }
public final class AsyncManifest: Sendable {
    private let manifest: Manifest
    private let executor: BlockingExecutor

    public init(_ manifest: Manifest) {
        self.manifest = manifest
        executor = BlockingExecutor(threadCount: 1, name: "manifest")
    }

    deinit { executor.shutdown() }

    /// Runs `body` with the manifest on the manifest thread.
    public func run<T: Sendable>(_ body: @escaping @Sendable (Manifest) throws -> T) async throws -> T {
        let manifest = manifest
        return try await executor.run { try body(manifest) }
    }

    /// Runs `body` with the manifest on the calling thread, which it blocks: only from a
    /// dedicated thread, never from Swift's cooperative pool. (The manifest serialises calls.)
    public func runBlocking<T>(_ body: (Manifest) throws -> T) rethrows -> T {
        try body(manifest)
    }

    /// The journal of `destination`'s multipart uploads, for the upload threads.
    public func journal(for destination: String) -> ManifestJournal {
        manifest.journal(for: destination)
    }
}

import SystemSupport

/// The manifest for async code: each call runs on the manifest's own thread, so SQLite never
/// blocks Swift's cooperative pool.
///
///     let batch = try await manifest.run { try $0.nextBatch(for: destination, limit: 64) }
public final class AsyncManifest: Sendable {
    public let manifest: Manifest
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
}

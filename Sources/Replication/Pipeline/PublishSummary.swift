import NixStore

/// What one `publish` call did.
public struct PublishSummary: Sendable {
    /// Paths uploaded, with their compressed NARs.
    public var published: [PublishedPath] = []
    /// Paths whose narinfo was already in the cache.
    public var alreadyCachedPaths: [PublishedPath] = []
    public var failures: [PublishError] = []
    /// Paths garbage-collected before they could be read.
    public var vanished: [StorePath] = []
    /// Uncompressed NAR bytes read and compressed bytes sent, for published paths.
    public var narBytes: UInt64 = 0
    public var compressedBytes: UInt64 = 0
    public var duration: Duration = .zero

    public init() {}

    public var succeeded: Bool { failures.isEmpty }
    public var alreadyCached: Int { alreadyCachedPaths.count }

    public mutating func merge(_ other: PublishSummary) {
        published += other.published
        alreadyCachedPaths += other.alreadyCachedPaths
        failures += other.failures
        vanished += other.vanished
        narBytes += other.narBytes
        compressedBytes += other.compressedBytes
        duration += other.duration
    }
}

/// A store path in the cache: what a publish reports, and what the manifest remembers.
public struct PublishedPath: Sendable, Equatable {
    public var path: StorePath
    /// The uncompressed NAR's size, as the Nix database gives it.
    public var narSize: UInt64
    /// The compressed NAR narsync uploaded; nil for a path found in the cache, published by
    /// another builder, whose file details are the cache's.
    public var nar: UploadedNar?

    public init(path: StorePath, narSize: UInt64, nar: UploadedNar?) {
        self.path = path
        self.narSize = narSize
        self.nar = nar
    }
}

/// Receives progress as a batch is published; called from any thread.
public protocol PublishProgress: Sendable {
    func batchStarted(paths: Int, narBytes: UInt64, alreadyCached: Int)
    func pathPublished(_ info: ValidPathInfo, nar: UploadedNar)
    func pathFailed(_ error: PublishError)
}

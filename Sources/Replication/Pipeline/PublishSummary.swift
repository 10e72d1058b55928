import NixStore

/// What one `publish` call did.
public struct PublishSummary: Sendable {
    /// Paths uploaded, with their compressed NARs.
    public var published: [PublishedNar] = []
    /// Paths whose narinfo was already in the cache.
    public var alreadyCachedPaths: [StorePath] = []
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

/// A path this run put in the cache.
public struct PublishedNar: Sendable, Equatable {
    public var info: ValidPathInfo
    public var nar: UploadedNar
}

/// Receives progress as a batch is published; called from any thread.
public protocol PublishProgress: Sendable {
    func batchStarted(paths: Int, narBytes: UInt64, alreadyCached: Int)
    func pathPublished(_ info: ValidPathInfo, nar: UploadedNar)
    func pathFailed(_ error: PublishError)
}

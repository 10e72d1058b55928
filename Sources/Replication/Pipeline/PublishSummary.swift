import NixStore

/// What one `publish` call did.
public struct PublishSummary: Sendable {
    public var published: [StorePath] = []
    /// Paths whose narinfo was already in the cache.
    public var alreadyCached = 0
    public var failures: [PublishError] = []
    /// Paths garbage-collected before they could be read.
    public var vanished: [StorePath] = []
    /// Uncompressed NAR bytes read and compressed bytes sent, for published paths.
    public var narBytes: UInt64 = 0
    public var compressedBytes: UInt64 = 0
    public var duration: Duration = .zero

    public init() {}

    public var succeeded: Bool { failures.isEmpty }

    public mutating func merge(_ other: PublishSummary) {
        published += other.published
        alreadyCached += other.alreadyCached
        failures += other.failures
        vanished += other.vanished
        narBytes += other.narBytes
        compressedBytes += other.compressedBytes
        duration += other.duration
    }
}

/// Receives progress as a batch is published; called from any thread.
public protocol PublishProgress: Sendable {
    func batchStarted(paths: Int, narBytes: UInt64, alreadyCached: Int)
    func pathPublished(_ info: ValidPathInfo, nar: UploadedNar)
    func pathFailed(_ error: PublishError)
}

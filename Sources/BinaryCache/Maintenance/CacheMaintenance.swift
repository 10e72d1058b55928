import Foundation

/// What `narsync verify` and `narsync gc` need of a cache beyond publishing into it: what it
/// holds (with sizes and ages), pieces of objects, and removing or renewing them.
///
/// Every method blocks, like `BinaryCacheDestination`'s: call them from a `BlockingExecutor`.
public protocol CacheMaintenance: BinaryCacheDestination {
    /// Whether `listObjects` can list the cache (false for an HTTP cache), known without asking it.
    var isListable: Bool { get }

    /// Every object of the cache (narinfos, NARs, `nix-cache-info`...) with its size and
    /// modification time, or nil when the cache cannot be listed (an HTTP cache).
    func listObjects() throws -> [StoredObject]?

    /// The size and modification time of one object (HEAD, stat), or nil if there is none.
    func objectInfo(key: String) throws -> StoredObject?

    /// Up to `length` bytes of an object from `offset`: empty past its end, nil if it is missing.
    /// Reading a NAR piece by piece keeps memory bounded whatever its size.
    func readRange(key: String, offset: UInt64, length: Int) throws -> [UInt8]?

    /// Removes an object; removing one that is not there is not an error.
    func delete(key: String) throws

    /// Makes an object's modification time now without changing its contents (S3: CopyObject
    /// onto itself with its metadata replaced; a directory: touching the file).
    /// - Returns: false if the object is not there.
    func renew(key: String) throws -> Bool

    /// Uploads started and never finished: S3 multipart uploads, or the temporary files a
    /// directory cache holds while an object is written.
    func incompleteUploads() throws -> [IncompleteUpload]

    /// Discards an incomplete upload and what it holds.
    func abort(_ upload: IncompleteUpload) throws
}

extension CacheMaintenance {
    public var isListable: Bool { true }
}

/// One object in a cache.
public struct StoredObject: Sendable, Hashable {
    public var key: String
    public var size: UInt64
    /// When it was last written (or renewed): S3's `LastModified`, a file's mtime.
    public var modified: Date

    public init(key: String, size: UInt64, modified: Date) {
        self.key = key
        self.size = size
        self.modified = modified
    }
}

/// An upload that was started and neither finished nor aborted.
public struct IncompleteUpload: Sendable, Hashable {
    /// The key the object would have had.
    public var key: String
    /// S3's upload ID, or the temporary file's name in a directory cache.
    public var id: String
    public var started: Date
    /// Bytes it holds (the parts uploaded so far), where known.
    public var size: UInt64?

    public init(key: String, id: String, started: Date, size: UInt64? = nil) {
        self.key = key
        self.id = id
        self.started = started
        self.size = size
    }
}

extension Destinations {
    /// The destination at `url` with the operations `verify` and `gc` need.
    /// - Throws: as `open`; every destination narsync knows supports maintenance.
    public static func openForMaintenance(_ url: String, options: DestinationOptions = DestinationOptions()) throws -> any CacheMaintenance {
        let destination = try open(url, options: options)
        guard let maintainable = destination as? any CacheMaintenance else {
            throw DestinationError.configuration(url, "this cache cannot be verified or collected")
        }
        return maintainable
    }
}

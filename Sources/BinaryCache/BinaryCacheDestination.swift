/// Where a binary cache lives: a directory, an S3 bucket or an HTTP server.
///
/// Keys are the paths Nix uses inside a binary cache: `nix-cache-info`, `<hash>.narinfo`,
/// `nar/<nix32>.nar.zst`. Every method blocks: call them from a dedicated thread (a
/// `BlockingExecutor`), never from Swift's cooperative pool.
///
/// A destination must make objects appear atomically: a reader sees either no object under a
/// key or the whole of it, never part of it.
public protocol BinaryCacheDestination: Sendable, CustomStringConvertible {
    /// Which cache this is: the name the manifest, the metrics and the logs know it by. Two
    /// destinations share it exactly when they write to the same place.
    var identity: DestinationIdentity { get }

    /// Whether an object exists under `key`.
    func exists(key: String) throws -> Bool

    /// The contents of a small object (a narinfo, nix-cache-info), or nil if there is none.
    func read(key: String) throws -> [UInt8]?

    /// Stores a small object whole, replacing any object under that key.
    func put(key: String, contents: [UInt8], contentType: String) throws

    /// Stores small objects (narinfos) whole, in order. Each becomes visible only once every
    /// object committed before the call is durable. Destinations whose durability costs a flush
    /// per object (a directory) pay it once per group here.
    func putGroup(_ objects: [SmallObject]) throws

    /// Whether `putGroup` costs less than a `put` per object. If so, the publisher writes the
    /// narinfos that are ready as one group at a time; if not, one by one and in parallel.
    var commitsInGroups: Bool { get }

    /// Starts streaming an object of unknown length (a compressed NAR). Nothing is visible
    /// under `key` until the upload's `commit`. Destinations that upload in parts record them
    /// in `journal`, and resume an upload the journal says a previous run left unfinished.
    func beginUpload(key: String, contentType: String, journal: (any UploadJournal)?) throws -> any ObjectUpload

    /// Every key that ends in `suffix` (e.g. ".narinfo"), or nil when the destination cannot
    /// list cheaply, in which case callers fall back to `exists`. Lets a backfill of 100,000
    /// paths skip the ones present without 100,000 requests.
    func listKeys(suffix: String) throws -> Set<String>?
}

extension BinaryCacheDestination {
    public func putGroup(_ objects: [SmallObject]) throws {
        for object in objects { try put(key: object.key, contents: object.contents, contentType: object.contentType) }
    }

    public var commitsInGroups: Bool { false }
}

/// A small object stored whole: a narinfo or `nix-cache-info`.
public struct SmallObject: Sendable {
    public var key: String
    public var contents: [UInt8]
    public var contentType: String

    public init(key: String, contents: [UInt8], contentType: String) {
        self.key = key
        self.contents = contents
        self.contentType = contentType
    }
}

/// An object being streamed to a destination.
public protocol ObjectUpload: AnyObject {
    /// Appends bytes to the object. May block while earlier bytes are being sent.
    func write(_ bytes: UnsafeRawBufferPointer) throws

    /// Makes the object visible under its key, whole.
    func commit() throws

    /// Discards what was written; nothing becomes visible, nothing is left behind.
    func abort()
}

/// The MIME types Nix's own binary cache stores use.
public enum ContentType {
    public static let nar = "application/x-nix-nar"
    public static let narInfo = "text/x-nix-narinfo"
    public static let cacheInfo = "text/x-nix-cache-info"
}

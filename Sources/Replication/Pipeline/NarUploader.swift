import BinaryCache
import Foundation
import NixStore
import SystemSupport

/// Publishes the NAR of one store path: read once from disk, hashed, compressed, hashed again
/// and streamed to the destination, in one pass with bounded memory.
///
/// The object becomes visible only if the NAR's hash and size equal what the Nix database
/// recorded; a modified or corrupted store path is never published. Blocking: run it on a
/// dedicated thread.
public struct NarUploader: Sendable {
    public var destination: any BinaryCacheDestination
    public var compressionLevel: Int32
    public var journal: (any UploadJournal)?
    private let workerBudget: CompressionWorkerBudget

    /// - Parameter compressionWorkers: libzstd worker threads shared by all the NARs this
    ///   uploader compresses at once (0: none, each NAR compresses on its uploading thread).
    public init(destination: any BinaryCacheDestination, compressionLevel: Int32 = 3,
                compressionWorkers: Int32 = 0, journal: (any UploadJournal)? = nil) {
        self.destination = destination
        self.compressionLevel = compressionLevel
        workerBudget = CompressionWorkerBudget(total: compressionWorkers)
        self.journal = journal
    }

    public var compressionWorkers: Int32 { workerBudget.total }

    /// libzstd's workers pay off on large NARs only; for small ones, starting their threads
    /// costs more than it saves. Whether a NAR gets workers depends on its size alone, so the
    /// same NAR always compresses to the same bytes (which resuming an upload relies on); how
    /// many it gets does not change them.
    func usesWorkers(_ info: ValidPathInfo) -> Bool {
        compressionWorkers > 0 && info.narSize >= Self.multithreadedCompressionThreshold
    }

    static let multithreadedCompressionThreshold: UInt64 = 4 << 20

    /// The cache key of a path's compressed NAR.
    ///
    /// Named after the NAR hash, which the database gives before any byte is read, so the key is
    /// known when a (multipart) upload starts and a restarted narsync can resume that upload.
    /// Like Nix's own names it is content-addressed: the same NAR gets the same key everywhere.
    public static func narKey(for info: ValidPathInfo) -> String {
        "nar/\(info.narHash.nix32Digits).nar.zst"
    }

    /// Streams the NAR of `info` from `physicalPath` and returns what the narinfo needs.
    /// - Throws: `PublishError.vanished` if the path is gone (garbage-collected),
    ///   `PublishError.hashMismatch` if its contents no longer match the database.
    public func upload(_ info: ValidPathInfo, physicalPath: String) throws -> UploadedNar {
        var status = stat()
        guard lstat(physicalPath, &status) == 0 else {
            if errno == ENOENT { throw PublishError.vanished(info.path) }
            throw PublishError.unreadable(info.path, "\(SystemError("cannot stat", physicalPath))")
        }
        let key = Self.narKey(for: info)
        let upload = try destination.beginUpload(key: key, contentType: ContentType.nar, journal: journal)
        var committed = false
        defer { if !committed { upload.abort() } }

        let nar = CountingHasher(), compressed = CountingHasher()
        let workers = usesWorkers(info) ? workerBudget.take() : 0
        defer { if workers > 0 { workerBudget.giveBack(workers) } }
        let compressor = try ZstdCompressor(level: compressionLevel, workers: workers, size: info.narSize)
        let send: (UnsafeRawBufferPointer) throws -> Void = { bytes in
            compressed.update(bytes)
            do {
                try upload.write(bytes)
            } catch {
                throw DestinationFailure(error: error)
            }
        }
        do {
            try NarWriter(root: physicalPath).write { chunk in
                nar.update(chunk)
                try compressor.compress(chunk, into: send)
            }
            try compressor.finish(into: send)
        } catch let failure as DestinationFailure {
            throw failure.error
        } catch let error as ZstdError where error.isWrongSize {
            // The walk produced more bytes than the database's NAR size (zstd stops at the first
            // one past it) or fewer: the path changed since Nix registered it.
            let actual = nar.count > info.narSize ? "more than \(info.narSize) bytes" : "\(nar.count) bytes"
            throw PublishError.hashMismatch(info.path, expected: "\(info.narHash.nix32) (\(info.narSize) bytes)", actual: actual)
        } catch {
            // The path vanished while being read (garbage collection raced us): the walk fails
            // to open a file or directory that was there when it listed its parent.
            if access(physicalPath, F_OK) != 0 { throw PublishError.vanished(info.path) }
            throw PublishError.unreadable(info.path, "\(error)")
        }

        let narHash = NixHash(nar.hasher.finalize())
        guard narHash == info.narHash, nar.count == info.narSize else {
            throw PublishError.hashMismatch(
                info.path, expected: "\(info.narHash.nix32) (\(info.narSize) bytes)",
                actual: "\(narHash.nix32) (\(nar.count) bytes)")
        }
        try upload.commit()
        committed = true
        return UploadedNar(key: key, fileHash: NixHash(compressed.hasher.finalize()), fileSize: compressed.count)
    }
}

/// An error of the destination while the NAR streams into it, told apart from the errors of
/// reading the store path, which the same walk throws.
private struct DestinationFailure: Error {
    var error: any Error
}

/// A compressed NAR now in the cache: the file details of a `PublishedPath`.
public struct UploadedNar: Sendable, Equatable {
    public var key: String
    public var fileHash: NixHash
    public var fileSize: UInt64

    public init(key: String, fileHash: NixHash, fileSize: UInt64) {
        self.key = key
        self.fileHash = fileHash
        self.fileSize = fileSize
    }
}

/// SHA-256 and byte count of a stream.
private final class CountingHasher {
    let hasher = SHA256Hasher()
    private(set) var count: UInt64 = 0

    func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bytes)
        count += UInt64(bytes.count)
    }
}

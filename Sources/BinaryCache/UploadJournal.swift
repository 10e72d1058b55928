/// A durable record of multipart uploads in flight, so that a restarted narsync resumes a large
/// upload where it stopped instead of sending it again (narsync's manifest implements it).
///
/// Destinations that upload in parts (S3) call it; others ignore it. Calls block briefly (an
/// SQLite write) and come from the uploading thread.
public protocol UploadJournal: Sendable {
    /// The upload left unfinished for `key` at this destination, if any.
    func unfinishedUpload(key: String) throws -> UnfinishedUpload?

    /// A multipart upload was created.
    func uploadStarted(key: String, uploadID: String, partSize: Int) throws

    /// A part was stored by the destination; it need not be sent again.
    func partStored(key: String, uploadID: String, part: StoredPart) throws

    /// The upload was completed or aborted; forget it.
    func uploadEnded(key: String, uploadID: String) throws
}

/// A multipart upload that a previous run started.
public struct UnfinishedUpload: Sendable, Equatable {
    public var key: String
    public var uploadID: String
    public var partSize: Int
    /// Parts already stored, in part-number order.
    public var parts: [StoredPart]

    public init(key: String, uploadID: String, partSize: Int, parts: [StoredPart]) {
        self.key = key
        self.uploadID = uploadID
        self.partSize = partSize
        self.parts = parts
    }
}

/// One stored part of a multipart upload.
public struct StoredPart: Sendable, Equatable {
    /// 1-based, as S3 numbers parts.
    public var number: Int
    public var etag: String
    public var size: Int
    /// SHA-256 of the part's bytes, so a resumed upload can check that recompression produced
    /// the same bytes before it trusts the stored parts.
    public var sha256: String

    public init(number: Int, etag: String, size: Int, sha256: String) {
        self.number = number
        self.etag = etag
        self.size = size
        self.sha256 = sha256
    }
}

/// A destination whose uploads can be left unfinished (S3's multipart uploads), so that
/// narsync can discard the ones a journal has recorded for too long: their parts cost storage.
public protocol MultipartUploadAborting: Sendable {
    /// Discards the upload `uploadID` of `key` and its stored parts; an upload already gone is
    /// not an error.
    func abortUpload(key: String, uploadID: String) throws
}

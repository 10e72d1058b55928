import Logging
import NixStore

/// Streams an object of unknown length to S3 without a temporary file: one PUT if it ends
/// within the first part, a multipart upload otherwise, with several parts in flight.
///
/// Without a journal, a failed or aborted upload is aborted on S3 so that no parts linger.
/// With one, parts are recorded as S3 stores them and left on failure for a later run, which
/// resumes: where its bytes match a recorded part (size and SHA-256) it skips sending it.
final class S3ObjectUpload: ObjectUpload {
    private enum State { case writing, finished }

    private let client: S3Client
    private let statistics: TransferStatistics
    private let key: String
    private let headers: [(name: String, value: String)]
    private let journal: (any UploadJournal)?
    private let sizing: PartSizing
    private let tracker: PartTracker
    private let cancellation = Cancellation()
    private let logger: Logger
    private var state = State.writing
    /// Why the upload failed; writing on after a failure throws it again.
    private var failure: Error?
    private var buffer: [UInt8] = []
    private var nextPart = 1
    private var uploadID: String?
    private var storedParts: [Int: StoredPart] = [:]
    /// Parts an interrupted run stored, trusted only when the same bytes come again.
    private var reusable: [Int: StoredPart] = [:]
    private var reusedCount = 0
    /// Whether an attempt to create this upload went unanswered, and may have created another.
    private var creationAnswerLost = false
    /// The parts of an upload an interrupted run completed without recording that it did: S3
    /// holds the object, so the same bytes (checked part by part) need not go out again.
    private var completedByInterruptedRun: [Int: StoredPart]?

    init(
        client: S3Client, statistics: TransferStatistics, key: String, headers: [(name: String, value: String)],
        journal: (any UploadJournal)?, partSize: Int, maximumPartSize: Int = PartSizing.maximumPartSize, window: PartWindow,
        logger: Logger
    ) throws {
        self.client = client
        self.statistics = statistics
        self.key = key
        self.headers = headers
        self.journal = journal
        self.logger = logger
        tracker = PartTracker(window: window)
        guard let journal, let unfinished = try journal.unfinishedUpload(key: key) else {
            sizing = PartSizing(initial: partSize, maximum: maximumPartSize)
            return
        }
        // Resume with the interrupted upload's part size, so parts fall at the same offsets.
        sizing = PartSizing(initial: unfinished.partSize, maximum: maximumPartSize)
        guard let onServer = try client.listParts(key: key, uploadID: unfinished.uploadID) else {
            // The upload is gone: aborted, or completed by a run killed before it recorded so.
            // Then the object is there, and every part was journaled before the completion.
            if !unfinished.parts.isEmpty, try client.objectExists(key: key) {
                uploadID = unfinished.uploadID
                completedByInterruptedRun = Dictionary(unfinished.parts.map { ($0.number, $0) }, uniquingKeysWith: { $1 })
            } else {
                try journal.uploadEnded(key: key, uploadID: unfinished.uploadID)
            }
            return
        }
        uploadID = unfinished.uploadID
        let held = Dictionary(onServer.map { ($0.number, $0) }, uniquingKeysWith: { $1 })
        for part in unfinished.parts {
            if let stored = held[part.number], stored.size == part.size, Self.sameETag(stored.etag, part.etag) {
                reusable[part.number] = part
            }
        }
    }

    deinit {
        if state == .writing { abort() }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let failure { throw failure }
        precondition(state == .writing, "write after commit or abort")
        // Parts stored while this upload produced more bytes are journaled now rather than
        // when the next part goes out, so that a kill meanwhile does not send them again.
        try failing { try absorb(tracker.finishedSoFar()) }
        var offset = 0
        while offset < bytes.count {
            let wanted = sizing.size(ofPart: nextPart) - buffer.count
            let count = min(wanted, bytes.count - offset)
            if buffer.isEmpty { buffer.reserveCapacity(sizing.size(ofPart: nextPart)) }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]))
            offset += count
            if count == wanted { try failing { try sendPart() } }
        }
    }

    func commit() throws {
        if let failure { throw failure }
        precondition(state == .writing, "commit after commit or abort")
        try failing {
            if nextPart == 1 {
                // It all fits in one part: a plain PUT, and any interrupted upload is void.
                if let uploadID { try abandon(uploadID) }
                completedByInterruptedRun = nil
                _ = try client.perform(.init(operation: "upload", method: "PUT", key: key, headers: headers, body: buffer))
            } else {
                if !buffer.isEmpty { try sendPart() }
                try absorbUntilAllFinished()
                let parts = (1..<nextPart).compactMap { storedParts[$0] }
                guard parts.count == nextPart - 1, let uploadID else { preconditionFailure("a part went missing") }
                if let completed = completedByInterruptedRun {
                    // Every part matched; fewer parts than the object has would be other bytes.
                    guard completed.count == parts.count else { throw try differsFromCompletedUpload(uploadID) }
                } else {
                    try client.completeMultipartUpload(key: key, uploadID: uploadID, parts: parts)
                    if creationAnswerLost { client.abortOtherUploads(key: key, keeping: uploadID) }
                }
                try journal?.uploadEnded(key: key, uploadID: uploadID)
                if reusedCount > 0 {
                    statistics.recordResumedUpload()
                    logger.info("resumed a multipart upload", metadata: [
                        "object": "\(client.objectName(key))", "parts reused": "\(reusedCount)", "parts sent": "\(parts.count - reusedCount)",
                    ])
                }
            }
        }
        state = .finished
    }

    func abort() {
        guard state == .writing else { return }
        state = .finished
        stopPartsInFlight()
        // With a journal, its owner decides whether the stored parts serve a later run.
        if journal == nil, let uploadID { try? client.abortMultipartUpload(key: key, uploadID: uploadID) }
    }

    /// Runs `body`; if it throws, the upload is aborted before the error goes on.
    private func failing(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            failure = error
            abort()
            throw error
        }
    }

    private func sendPart() throws {
        let bytes = buffer
        buffer = []
        let number = nextPart
        nextPart += 1
        guard number <= PartSizing.maximumParts else {
            throw DestinationError(
                operation: "upload", location: client.objectName(key),
                reason: .configuration("the object needs more than \(PartSizing.maximumParts) parts"),
                hint: "raise multipart-chunk-size")
        }
        let sha256 = SHA256Hasher.hash(bytes).hex
        if let completed = completedByInterruptedRun, let uploadID {
            if keep(completed[number], size: bytes.count, sha256: sha256) { return }
            guard number == 1 else { throw try differsFromCompletedUpload(uploadID) }
            // Other bytes from the start: a new upload replaces the object.
            try journal?.uploadEnded(key: key, uploadID: uploadID)
            completedByInterruptedRun = nil
            self.uploadID = nil
        }
        if try reuse(number: number, size: bytes.count, sha256: sha256) { return }
        if uploadID == nil {
            let created = try client.createMultipartUpload(key: key, headers: headers)
            uploadID = created.uploadID
            creationAnswerLost = created.answerLost
            try journal?.uploadStarted(key: key, uploadID: created.uploadID, partSize: sizing.initial)
        }
        while true {
            let finished = tracker.reserve()
            if finished.isEmpty { break }
            try absorb(finished)
        }
        let tracker = tracker
        client.uploadPart(
            key: key, uploadID: uploadID!, number: number, bytes: bytes, sha256: sha256, cancellation: cancellation
        ) { tracker.partFinished($0) }
    }

    /// Whether part `number` is already stored by an interrupted run with these very bytes.
    /// A mismatch means the bytes differ from what that run sent: at the first part, the old
    /// upload is aborted and a new one started; later, when earlier parts are already in the
    /// old upload, the rest is sent into it, each part replacing the old one of its number.
    private func reuse(number: Int, size: Int, sha256: String) throws -> Bool {
        guard let old = reusable[number] else { return false }
        if keep(old, size: size, sha256: sha256) { return true }
        reusable.removeAll()
        if number == 1, let uploadID { try abandon(uploadID) }
        return false
    }

    /// Counts `old`, a part an interrupted run stored, as this run's part of its number if it
    /// holds these very bytes.
    private func keep(_ old: StoredPart?, size: Int, sha256: String) -> Bool {
        guard let old, old.size == size, old.sha256 == sha256 else { return false }
        storedParts[old.number] = old
        reusedCount += 1
        statistics.recordReusedPart()
        return true
    }

    /// Forgets an interrupted run's completed upload whose bytes differ from this run's after
    /// its first part (the earlier parts were not kept): the retry starts a new upload.
    private func differsFromCompletedUpload(_ oldUploadID: String) throws -> DestinationError {
        try journal?.uploadEnded(key: key, uploadID: oldUploadID)
        completedByInterruptedRun = nil
        return DestinationError(
            operation: "upload", location: client.objectName(key),
            reason: .invalidResponse("the object an interrupted run uploaded holds other bytes than this run's"),
            isTransient: true, hint: "the next attempt uploads it again")
    }

    /// Aborts an interrupted run's upload that this one will not use.
    private func abandon(_ oldUploadID: String) throws {
        try client.abortMultipartUpload(key: key, uploadID: oldUploadID)
        try journal?.uploadEnded(key: key, uploadID: oldUploadID)
        uploadID = nil
        reusable.removeAll()
    }

    /// Records stored parts (in the journal too) and throws the first failure.
    private func absorb(_ outcomes: [PartOutcome]) throws {
        var failure: DestinationError?
        for outcome in outcomes {
            switch outcome {
            case .stored(let part):
                storedParts[part.number] = part
                if let uploadID { try journal?.partStored(key: key, uploadID: uploadID, part: part) }
            case .failed(let error):
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
    }

    /// Waits for the parts in flight, journaling each as it is stored rather than all at the
    /// end, so that a kill meanwhile leaves only the parts still on their way to send again.
    /// Throws the first failure, once no part is in flight.
    private func absorbUntilAllFinished() throws {
        var failure: Error?
        while let outcomes = tracker.nextFinished() {
            do { try absorb(outcomes) } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }

    /// Cancels the parts in flight and waits for them; parts stored meanwhile are journaled.
    private func stopPartsInFlight() {
        cancellation.cancel()
        client.curl.wake()
        try? absorbUntilAllFinished()
    }

    private static func sameETag(_ a: String, _ b: String) -> Bool {
        let unquoted = { (etag: String) in etag.trimmingCharacters(in: ["\""]) }
        return unquoted(a) == unquoted(b)
    }
}

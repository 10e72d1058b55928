/// Streams an object of unknown length to an HTTP cache: bytes are held until
/// `streamingThreshold`; an object that ends before is sent in one PUT (retried like any
/// request), a larger one is streamed in a single chunked PUT as it is written. A streamed PUT
/// cannot be retried (its bytes are gone); its error says whether trying again may work.
final class HTTPObjectUpload: ObjectUpload {
    private let destination: HTTPDestination
    private let key: String
    private let contentType: String
    private var buffer: [UInt8] = []
    private var streaming: (body: BodyStream, outcome: PendingOutcome, cancellation: Cancellation)?
    private var isFinished = false
    /// Why the upload failed; writing on after a failure throws it again.
    private var failure: Error?

    init(destination: HTTPDestination, key: String, contentType: String) {
        self.destination = destination
        self.key = key
        self.contentType = contentType
    }

    deinit {
        if !isFinished { abort() }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let failure { throw failure }
        precondition(!isFinished, "write after commit or abort")
        if streaming == nil {
            if buffer.count + bytes.count <= destination.streamingThreshold {
                buffer.append(contentsOf: bytes)
                return
            }
            startStreaming()
        }
        guard let streaming, !streaming.body.write(bytes) else { return }
        // The server answered, or the connection dropped, before the body was complete.
        isFinished = true
        do {
            _ = try destination.check(streaming.outcome.wait(), operation: "upload", key: key)
            throw DestinationError(
                operation: "upload", location: "\(destination)/\(key)",
                reason: .invalidResponse("the server answered before the upload was complete"))
        } catch {
            failure = error
            throw error
        }
    }

    private func startStreaming() {
        let body = BodyStream(capacity: destination.streamingThreshold)
        let cancellation = Cancellation()
        let outcome = destination.begin(
            "PUT", key: key, headers: [("Content-Type", contentType)], body: .stream(body), cancellation: cancellation)
        streaming = (body, outcome, cancellation)
        let held = buffer
        buffer = []
        held.withUnsafeBytes { _ = body.write($0) }
    }

    func commit() throws {
        if let failure { throw failure }
        precondition(!isFinished, "commit after commit or abort")
        isFinished = true
        guard let streaming else {
            return try destination.put(key: key, contents: buffer, contentType: contentType)
        }
        streaming.body.finish()
        _ = try destination.check(streaming.outcome.wait(), operation: "upload", key: key)
    }

    /// Drops the connection mid-body, so the server discards what it received.
    func abort() {
        guard !isFinished else { return }
        isFinished = true
        guard let streaming else { return }
        streaming.cancellation.cancel()
        streaming.body.close()
        destination.curl.wake()
        _ = streaming.outcome.wait()
    }
}

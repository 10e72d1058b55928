import NixStore

/// S3's multipart upload API, as the calls `S3ObjectUpload` makes.
extension S3Client {
    /// Starts an upload; `answerLost` when an earlier attempt went unanswered, which may have
    /// started another upload (see `abortOtherUploads`).
    func createMultipartUpload(key: String, headers: [(name: String, value: String)]) throws -> (uploadID: String, answerLost: Bool) {
        let call = Call(operation: "start a multipart upload of", method: "POST", key: key, query: [("uploads", "")], headers: headers)
        let (response, attempts) = try performCountingAttempts(call)
        guard let uploadID = S3XML.value("UploadId", in: Substring(String(decoding: response.body, as: UTF8.self))) else {
            throw DestinationError(
                operation: call.operation, location: objectName(key), reason: .invalidResponse("no UploadId in the answer"))
        }
        return (uploadID, attempts > 1)
    }

    /// Aborts the uploads of `key` other than `uploadID`, which is complete: those whose
    /// creation answers were lost, which nobody would ever complete or abort. Called once the
    /// object is whole, so a creation request that stalled on its way has arrived, and any other
    /// upload of the key is pointless (a NAR's key names its contents); another builder's
    /// upload of the same NAR fails and finds it there. Best effort, from the first thousand
    /// uploads of the bucket (moto misreads a prefix= with a slash).
    func abortOtherUploads(key: String, keeping uploadID: String) {
        let call = Call(operation: "list the multipart uploads of", method: "GET", key: "", query: [("uploads", "")])
        guard let response = try? perform(call) else { return }
        for upload in S3XML.elements("Upload", in: Substring(String(decoding: response.body, as: UTF8.self))) {
            guard S3XML.value("Key", in: upload) == key, let other = S3XML.value("UploadId", in: upload), other != uploadID else { continue }
            try? abortMultipartUpload(key: key, uploadID: other)
        }
    }

    /// Sends one part; `completion` runs on the driver thread.
    func uploadPart(
        key: String, uploadID: String, number: Int, bytes: [UInt8], sha256: String, cancellation: Cancellation,
        completion: @escaping @Sendable (PartOutcome) -> Void
    ) {
        let call = Call(
            operation: "upload part \(number) of", method: "PUT", key: key,
            query: [("partNumber", String(number)), ("uploadId", uploadID)], body: bytes, payloadHash: sha256)
        let size = bytes.count
        start(call, cancellation: cancellation) { [self] result in
            switch result {
            case .success(let response):
                guard let etag = response.header("etag") else {
                    return completion(.failed(DestinationError(
                        operation: call.operation, location: objectName(key), reason: .invalidResponse("no ETag for the part"))))
                }
                completion(.stored(StoredPart(number: number, etag: etag, size: size, sha256: sha256)))
            case .failure(let error):
                completion(.failed(error))
            }
        }
    }

    /// The parts S3 holds for an upload, or nil if the upload no longer exists.
    func listParts(key: String, uploadID: String) throws -> [StoredPart]? {
        var parts: [StoredPart] = []
        var marker: String?
        repeat {
            var query = [("uploadId", uploadID)]
            if let marker { query.append(("part-number-marker", marker)) }
            let call = Call(operation: "list the stored parts of", method: "GET", key: key, query: query)
            let response = try perform(call, accepting: [404])
            if response.status == 404 { return nil }
            let xml = Substring(String(decoding: response.body, as: UTF8.self))
            for part in S3XML.elements("Part", in: xml) {
                guard let number = S3XML.value("PartNumber", in: part).flatMap(Int.init),
                    let etag = S3XML.value("ETag", in: part), let size = S3XML.value("Size", in: part).flatMap(Int.init)
                else { continue }
                parts.append(StoredPart(number: number, etag: etag, size: size, sha256: ""))
            }
            marker = S3XML.value("IsTruncated", in: xml) == "true" ? S3XML.value("NextPartNumberMarker", in: xml) : nil
        } while marker != nil
        return parts
    }

    func completeMultipartUpload(key: String, uploadID: String, parts: [StoredPart]) throws {
        let list = parts.map {
            "<Part><PartNumber>\($0.number)</PartNumber><ETag>\(S3XML.escape($0.etag))</ETag></Part>"
        }
        let body = Array("<CompleteMultipartUpload>\(list.joined())</CompleteMultipartUpload>".utf8)
        let call = Call(
            operation: "complete the upload of", method: "POST", key: key, query: [("uploadId", uploadID)],
            headers: [("content-type", "application/xml")], body: body, mayFailWithStatus200: true)
        do {
            // S3 may answer 200 and still fail, with the error in the body.
            let response = try perform(call)
            if let error = S3ErrorBody(response.body) {
                throw DestinationError(
                    operation: call.operation, location: objectName(key),
                    reason: .status(response.status, code: error.code, message: error.message))
            }
        } catch let error as DestinationError {
            // A retry after a completion whose answer was lost finds the upload gone, and the
            // object in place: its key names its content, so it is the one we sent.
            guard error.attempts > 1, case .status(404, "NoSuchUpload", _) = error.reason,
                (try? objectExists(key: key)) == true
            else { throw error }
        }
    }

    /// Whether S3 holds `key`; false when it cannot tell (403 without s3:ListBucket).
    func objectExists(key: String) throws -> Bool {
        try perform(Call(operation: "check", method: "HEAD", key: key), accepting: [403, 404]).status / 100 == 2
    }

    /// Discards an upload and its stored parts.
    func abortMultipartUpload(key: String, uploadID: String) throws {
        _ = try perform(
            Call(operation: "abort the upload of", method: "DELETE", key: key, query: [("uploadId", uploadID)]),
            accepting: [404])
    }
}

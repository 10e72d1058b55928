import Foundation

extension S3Destination: CacheMaintenance {
    /// The whole bucket with ListObjectsV2, a thousand objects a request, with each object's
    /// `Size` and `LastModified`.
    public func listObjects() throws -> [StoredObject]? {
        var objects: [StoredObject] = []
        var token: String?
        repeat {
            var query = [("list-type", "2")]
            if let token { query.append(("continuation-token", token)) }
            let response = try client.perform(.init(operation: "list", method: "GET", key: "", query: query))
            let xml = Substring(String(decoding: response.body, as: UTF8.self))
            for contents in S3XML.elements("Contents", in: xml) {
                guard let key = S3XML.value("Key", in: contents), let size = S3XML.value("Size", in: contents).flatMap(UInt64.init),
                    let modified = S3XML.value("LastModified", in: contents).flatMap(AWSTimestamp.parse)
                else {
                    throw DestinationError(
                        operation: "list", location: location.description,
                        reason: .invalidResponse("an object without Key, Size or LastModified in ListObjectsV2"))
                }
                objects.append(StoredObject(key: key, size: size, modified: modified))
            }
            token = S3XML.value("IsTruncated", in: xml) == "true" ? S3XML.value("NextContinuationToken", in: xml) : nil
        } while token != nil
        return objects
    }

    public func objectInfo(key: String) throws -> StoredObject? {
        let call = S3Client.Call(operation: "check", method: "HEAD", key: key)
        let response = try client.perform(call, accepting: [404])
        if response.status == 404 { return nil }
        guard let size = response.header("content-length").flatMap(UInt64.init),
            let modified = response.header("last-modified").flatMap(HTTPDates.parseRFC1123)
        else {
            throw DestinationError(
                operation: "check", location: client.objectName(key),
                reason: .invalidResponse("HEAD answered without Content-Length or Last-Modified"))
        }
        return StoredObject(key: key, size: size, modified: modified)
    }

    public func readRange(key: String, offset: UInt64, length: Int) throws -> [UInt8]? {
        let range = "bytes=\(offset)-\(offset + UInt64(max(1, length)) - 1)"
        let call = S3Client.Call(operation: "read", method: "GET", key: key, headers: [("range", range)])
        let response = try client.perform(call, accepting: [404, 416])
        switch response.status {
        case 404: return nil
        case 416: return []  // the object ends before `offset`
        default: return Array(response.body.prefix(length))
        }
    }

    public func delete(key: String) throws {
        _ = try client.perform(.init(operation: "delete", method: "DELETE", key: key), accepting: [404])
    }

    /// CopyObject onto itself with `x-amz-metadata-directive: REPLACE`, which S3 accepts as a
    /// change: the object gets a new `LastModified` and keeps its bytes, at the cost of one request.
    public func renew(key: String) throws -> Bool {
        let source = "/" + S3Path.encode(location.bucket) + "/" + S3Path.encodeKey(key)
        let contentType = key.hasSuffix(".narinfo") ? ContentType.narInfo : key.hasPrefix("nar/") ? ContentType.nar : "application/octet-stream"
        var call = S3Client.Call(
            operation: "renew", method: "PUT", key: key,
            headers: [("content-type", contentType), ("x-amz-copy-source", source), ("x-amz-metadata-directive", "REPLACE")]
                + (location.storageClass.map { [("x-amz-storage-class", $0)] } ?? []))
        call.mayFailWithStatus200 = true
        let response = try client.perform(call, accepting: [404])
        if response.status == 404 { return false }
        if let error = S3ErrorBody(response.body) {
            if error.code == "NoSuchKey" { return false }
            throw DestinationError(
                operation: "renew", location: client.objectName(key), reason: .status(response.status, code: error.code, message: error.message))
        }
        return true
    }

    /// ListMultipartUploads, page by page, with each upload's `Initiated` time.
    public func incompleteUploads() throws -> [IncompleteUpload] {
        var uploads: [IncompleteUpload] = []
        var markers: (key: String, id: String)?
        repeat {
            var query = [("uploads", "")]
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.id)] }
            let response = try client.perform(.init(operation: "list uploads of", method: "GET", key: "", query: query))
            let xml = Substring(String(decoding: response.body, as: UTF8.self))
            for upload in S3XML.elements("Upload", in: xml) {
                guard let key = S3XML.value("Key", in: upload), let id = S3XML.value("UploadId", in: upload) else { continue }
                let started = S3XML.value("Initiated", in: upload).flatMap(AWSTimestamp.parse) ?? .distantPast
                uploads.append(IncompleteUpload(key: key, id: id, started: started))
            }
            markers = nil
            if S3XML.value("IsTruncated", in: xml) == "true", let key = S3XML.value("NextKeyMarker", in: xml),
                let id = S3XML.value("NextUploadIdMarker", in: xml) {
                markers = (key, id)
            }
        } while markers != nil
        return uploads
    }

    public func abort(_ upload: IncompleteUpload) throws {
        try client.abortMultipartUpload(key: upload.key, uploadID: upload.id)
    }
}

/// HTTP's date format, parsed by hand: Foundation's formatters are slow to make and a listing
/// of 100,000 objects holds 100,000 dates. (S3's ISO 8601 dates: `AWSTimestamp`.)
enum HTTPDates {
    /// `Sun, 06 Dec 2026 05:00:00 GMT` (the `Last-Modified` header).
    static func parseRFC1123(_ text: String) -> Date? {
        let parts = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count >= 5, let day = Int(parts[1]), let month = months.firstIndex(of: String(parts[2])),
            let year = Int(parts[3])
        else { return nil }
        let time = parts[4].split(separator: ":").compactMap { Int($0) }
        guard time.count == 3 else { return nil }
        return date(year: year, month: month + 1, day: day, hour: time[0], minute: time[1], second: time[2], fraction: 0)
    }

    /// The UTC time given, or nil where timegm refuses it.
    static func date(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, fraction: Double) -> Date? {
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        guard seconds != -1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds) + fraction)
    }
}

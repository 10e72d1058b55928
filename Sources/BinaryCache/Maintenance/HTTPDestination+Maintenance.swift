import Foundation

/// An HTTP cache can be checked path by path (HEAD, ranged GET) but not listed, so `verify`
/// takes the store paths to check, and `gc` refuses it.
extension HTTPDestination: CacheMaintenance {
    public var isListable: Bool { false }

    public func listObjects() throws -> [StoredObject]? { nil }

    public func objectInfo(key: String) throws -> StoredObject? {
        let response = try send("check", "HEAD", key: key, accepting: [404, 410])
        guard response.status < 300 else { return nil }
        let size = response.header("content-length").flatMap(UInt64.init) ?? 0
        let modified = response.header("last-modified").flatMap(HTTPDates.parseRFC1123) ?? Date()
        return StoredObject(key: key, size: size, modified: modified)
    }

    public func readRange(key: String, offset: UInt64, length: Int) throws -> [UInt8]? {
        let range = "bytes=\(offset)-\(offset + UInt64(max(1, length)) - 1)"
        let response = try send("read", "GET", key: key, headers: [("Range", range)], accepting: [404, 410, 416])
        switch response.status {
        case 404, 410: return nil
        case 416: return []
        // A server that ignores Range sends the whole object.
        case 200: return Array(response.body.dropFirst(Int(min(offset, UInt64(response.body.count)))).prefix(length))
        default: return Array(response.body.prefix(length))
        }
    }

    public func delete(key: String) throws {
        _ = try send("delete", "DELETE", key: key, accepting: [404, 410])
    }

    public func renew(key: String) throws -> Bool {
        throw DestinationError.configuration(baseURL, "an HTTP cache cannot renew objects", hint: "run narsync gc on the cache's bucket or directory")
    }

    public func incompleteUploads() throws -> [IncompleteUpload] { [] }

    public func abort(_ upload: IncompleteUpload) throws {}
}

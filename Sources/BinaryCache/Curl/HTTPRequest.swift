/// One HTTP request as the curl driver sends it. Headers may carry credentials
/// (`authorization`), so requests are never logged whole: log `Exchange.label` instead.
struct HTTPRequest: Sendable {
    var method: String
    var url: String
    var headers: [(name: String, value: String)]
    var body: RequestBody = .none
}

enum RequestBody: Sendable {
    case none
    /// Bytes held in memory (a part, a narinfo); they can be sent again on a retry.
    case bytes([UInt8])
    /// Bytes produced while the request is under way, of unknown length; never retried.
    case stream(BodyStream)

    var length: Int? {
        switch self {
        case .none: 0
        case .bytes(let bytes): bytes.count
        case .stream: nil
        }
    }
}

struct HTTPResponse: Sendable {
    var status: Int
    /// Names in lowercase; for repeated headers, the last value.
    var headers: [String: String]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    var isSuccess: Bool { (200..<300).contains(status) }
}

/// A request that got no HTTP answer: curl's error code and message.
struct TransportFailure: Error, Sendable {
    var code: Int
    var message: String
    /// Worth retrying: timeouts, refused or dropped connections, not a bad URL or certificate.
    var isTransient: Bool
    var isCancellation: Bool = false
}

/// A destination refused or could not be reached; the message names the object, the server's
/// answer and what the user can do. It never contains credentials.
public struct DestinationError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        /// The server answered with an error status; `code` and `message` come from S3's XML
        /// error body where there is one.
        case status(Int, code: String?, message: String?)
        /// No answer: the connection failed, was dropped or timed out (curl's message).
        case transport(String)
        /// The server's answer made no sense (e.g. a part stored without an ETag).
        case invalidResponse(String)
        /// The URL, options or credentials cannot work.
        case configuration(String)
        /// The upload was aborted while a request was under way.
        case cancelled
    }

    /// What narsync was doing: "upload", "read", "check", "list".
    public var operation: String
    /// The object or destination: `s3://bucket/key`, `https://cache.example.org/key`.
    public var location: String
    public var reason: Reason
    /// Requests sent before giving up.
    public var attempts: Int
    /// Whether trying again later may work: the retries ran out on a transient failure.
    public var isTransient: Bool
    /// What the user can do about it, if narsync knows.
    public var hint: String?

    public init(
        operation: String, location: String, reason: Reason, attempts: Int = 1,
        isTransient: Bool = false, hint: String? = nil
    ) {
        self.operation = operation
        self.location = location
        self.reason = reason
        self.attempts = attempts
        self.isTransient = isTransient
        self.hint = hint
    }

    static func configuration(_ location: String, _ problem: String, hint: String? = nil) -> DestinationError {
        DestinationError(operation: "use", location: location, reason: .configuration(problem), attempts: 0, hint: hint)
    }

    /// A URL whose scheme no destination serves.
    public static func unsupportedURL(_ url: String) -> DestinationError {
        configuration(url, "not a destination narsync knows", hint: "use file:///dir, s3://bucket?region=..., or http(s)://host/path")
    }

    /// A destination that refuses writes before any object is sent (a read-only directory).
    public static func notWritable(destination: String, reason: String) -> DestinationError {
        DestinationError(operation: "write to", location: destination, reason: .configuration(reason), attempts: 0)
    }

    public var description: String {
        var text = "cannot \(operation) \(location): "
        switch reason {
        case .status(let status, let code, let message):
            text += "HTTP \(status)"
            if let code { text += " \(code)" }
            if let message, !message.isEmpty { text += ": \(message)" }
        case .transport(let message): text += message
        case .invalidResponse(let message): text += "unexpected response: \(message)"
        case .configuration(let message): text += message
        case .cancelled: text += "the upload was aborted"
        }
        if attempts > 1 { text += " (after \(attempts) attempts)" }
        if let hint { text += ". " + hint.prefix(1).uppercased() + hint.dropFirst() }
        return text
    }
}

/// Why a destination could not be used.
public enum DestinationError: Error, CustomStringConvertible {
    case unsupportedURL(String)
    case notWritable(destination: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedURL(let url):
            "'\(url)' is not a destination narsync knows: use file:///dir, s3://bucket?region=..., or http(s)://host/path"
        case .notWritable(let destination, let reason):
            "cannot write to \(destination): \(reason)"
        }
    }
}

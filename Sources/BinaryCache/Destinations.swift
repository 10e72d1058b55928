import Foundation

/// Opens the destination a URL names: `file:///dir`, `s3://bucket?...`, `http(s)://host/path`.
public enum Destinations {
    /// - Throws: `DestinationError.unsupportedURL` for any other scheme, and the destination's
    ///   own errors when it cannot be used (an unwritable directory, a malformed S3 URL).
    public static func open(_ url: String, options: DestinationOptions = DestinationOptions()) throws -> any BinaryCacheDestination {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw DestinationError.unsupportedURL(url)
        }
        switch scheme {
        case "file":
            return try FileDestination(directory: FileDestination.directory(of: url))
        case "s3", "http", "https":
            return try makeDestination(url: url, options: options)
        default:
            throw DestinationError.unsupportedURL(url)
        }
    }
}

/// The destination for an `s3://`, `http://` or `https://` store URL, written as Nix writes
/// them (`s3://bucket?region=eu-west-1&endpoint=minio.local:9000&scheme=http`). Other schemes
/// (file://) are the caller's: `Destinations.open` is the one entry point.
func makeDestination(url: String, options: DestinationOptions) throws -> any BinaryCacheDestination {
    let scheme = try StoreURL(url).scheme
    if ["s3", "http", "https"].contains(scheme), let problem = CurlMulti.libraryProblem {
        throw DestinationError.configuration(
            url, "cannot load libcurl: \(problem)", hint: "install libcurl 4 (Debian: apt-get install libcurl4)")
    }
    return switch scheme {
    case "s3": try S3Destination(url: url, options: options)
    case "http", "https": try HTTPDestination(url: url, options: options)
    case let scheme: throw DestinationError.configuration(url, "no remote destination for \(scheme):// URLs")
    }
}

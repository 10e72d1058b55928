import Logging

/// A binary cache in an S3 bucket (AWS or any S3-compatible server), written with signed
/// requests over libcurl.
///
/// Keys are the cache's layout as given (`nix-cache-info`, `<hash>.narinfo`,
/// `nar/<hash>.nar.zst`). Two narsync instances may write one bucket: keys name their
/// content, and the pipeline writes a narinfo only after its NAR.
public final class S3Destination: BinaryCacheDestination, MultipartUploadAborting, TransferStatisticsReporting {
    public let location: S3Location
    public let statistics: TransferStatistics
    let client: S3Client
    private let partSize: Int
    private let window: PartWindow
    private let logger: Logger

    /// A destination for `location`, signing with `credentials`, which never change.
    public convenience init(location: S3Location, credentials: S3Credentials, options: DestinationOptions) throws {
        try self.init(location: location, credentials: CredentialCache(credentials, logger: options.logger), options: options)
    }

    /// A destination for `location`, signing with what `credentials` holds when each request is sent.
    /// - Throws: `DestinationError.configuration` for a CA bundle (see `TLSSettings`) that
    ///   cannot be read, or parts larger than the endpoint takes (`S3Location.maximumPartSize`).
    public init(location: S3Location, credentials: CredentialCache, options: DestinationOptions) throws {
        self.location = location
        statistics = TransferStatistics()
        partSize = location.partSize ?? options.partSize
        guard partSize <= location.maximumPartSize else {
            throw DestinationError.configuration(
                location.description, "parts of \(partSize >> 20) MiB exceed what \(location.endpoint) takes in one request",
                hint: "use a part size of at most \(location.maximumPartSize >> 20) MiB (--part-size-mib, multipart-chunk-size=)")
        }
        var settings = options.transferSettings
        if location.scheme == "https" {
            let candidates = TLSSettings.candidates(
                url: location.caFile, configured: options.caFile,
                aws: TLSSettings.awsCandidates(profile: location.profile, environment: options.environment),
                environment: options.environment)
            settings.tls = try TLSSettings.resolve(candidates, location: location.description)
        }
        let curl = CurlMulti(
            name: "narsync-s3", settings: settings, statistics: statistics, logger: options.logger,
            destination: location.description)
        client = S3Client(location: location, credentials: credentials, curl: curl)
        window = PartWindow(limit: options.partsInFlight)
        logger = options.logger
    }

    /// A destination for an `s3://` store URL, with credentials, region and endpoint found as
    /// the AWS tools find them (see `CredentialChain`, `S3Location.resolveDefaults`) in
    /// `options.environment`. Blocks while the chain asks its sources (seconds at most
    /// outside AWS): call it from a thread that may block.
    public convenience init(url: String, options: DestinationOptions) throws {
        var location = try S3Location(parsing: url)
        let settings = AWSSettings(environment: options.environment, profile: location.profile)
        let chain = CredentialChain(settings: settings, logger: options.logger)
        let resolution = try chain.resolve()
        // Instance metadata is asked for the region only on AWS, or where it gave the credentials.
        let onAWS = !location.hasCustomEndpoint && settings.endpoint(service: "S3") == nil
        try location.resolveDefaults(settings: settings) {
            onAWS || resolution.provider is InstanceMetadataProvider ? chain.instanceRegion() : nil
        }
        let credentials = CredentialCache(provider: resolution.provider, credentials: resolution.credentials, logger: options.logger)
        let found = resolution.credentials
        options.logger.info(
            "using AWS credentials from \(found.source)",
            metadata: ["access key": "\(found.accessKeyID)", "expires": "\(found.expiration.map { "\($0)" } ?? "never")",
                       "region": "\(location.region)"])
        try self.init(location: location, credentials: credentials, options: options)
    }

    /// Where the credentials come from, when they expire, how refreshing goes.
    public var credentials: CredentialCache { client.credentials }

    public var description: String { location.description }

    public var identity: DestinationIdentity { location.identity }

    public func exists(key: String) throws -> Bool {
        let response = try client.perform(.init(operation: "check", method: "HEAD", key: key), accepting: [403, 404])
        if response.status != 403 { return response.status != 404 }
        // Without s3:ListBucket, S3 answers 403 for a missing key; so does a bad signature,
        // but a HEAD answer has no body to tell them apart. A GET's error body does.
        return try read(key: key, range: "bytes=0-0") != nil
    }

    public func read(key: String) throws -> [UInt8]? {
        try read(key: key, range: nil)
    }

    private func read(key: String, range: String?) throws -> [UInt8]? {
        let call = S3Client.Call(operation: "read", method: "GET", key: key, headers: range.map { [("range", $0)] } ?? [])
        let response = try client.perform(call, accepting: [403, 404])
        if response.status == 404 { return nil }
        if response.status == 403 {
            // Like Nix: a 403 for want of s3:ListBucket means "no such key".
            guard S3ErrorBody(response.body)?.code == "AccessDenied" else {
                throw client.error(call, ExchangeOutcome(result: .success(response), attempts: 1))
            }
            return nil
        }
        return response.body
    }

    public func put(key: String, contents: [UInt8], contentType: String) throws {
        _ = try client.perform(
            .init(operation: "upload", method: "PUT", key: key, headers: objectHeaders(contentType), body: contents))
    }

    public func beginUpload(key: String, contentType: String, journal: (any UploadJournal)?) throws -> any ObjectUpload {
        try S3ObjectUpload(
            client: client, statistics: statistics, key: key, headers: objectHeaders(contentType), journal: journal,
            partSize: partSize, maximumPartSize: location.maximumPartSize, window: window, logger: logger)
    }

    public func abortUpload(key: String, uploadID: String) throws {
        try client.abortMultipartUpload(key: key, uploadID: uploadID)
    }

    /// Lists the bucket with ListObjectsV2, a thousand keys a request.
    public func listKeys(suffix: String) throws -> Set<String>? {
        var keys = Set<String>()
        var token: String?
        repeat {
            var query = [("list-type", "2")]
            if let token { query.append(("continuation-token", token)) }
            let response = try client.perform(.init(operation: "list", method: "GET", key: "", query: query))
            let xml = Substring(String(decoding: response.body, as: UTF8.self))
            for contents in S3XML.elements("Contents", in: xml) {
                if let key = S3XML.value("Key", in: contents), key.hasSuffix(suffix) { keys.insert(key) }
            }
            token = S3XML.value("IsTruncated", in: xml) == "true" ? S3XML.value("NextContinuationToken", in: xml) : nil
        } while token != nil
        return keys
    }

    private func objectHeaders(_ contentType: String) -> [(name: String, value: String)] {
        [("content-type", contentType)] + (location.storageClass.map { [("x-amz-storage-class", $0)] } ?? [])
    }

    /// Creates the bucket (in tests; narsync leaves bucket creation to the user).
    func createBucket() throws {
        _ = try client.perform(.init(operation: "create", method: "PUT", key: ""))
    }

    /// How many parts S3 holds for an upload (in tests), or nil if it no longer exists.
    func storedPartCount(key: String, uploadID: String) throws -> Int? {
        try client.listParts(key: key, uploadID: uploadID)?.count
    }

    /// The multipart uploads under way in the bucket, as (key, upload ID).
    func multipartUploads() throws -> [(key: String, uploadID: String)] {
        let response = try client.perform(.init(operation: "list uploads of", method: "GET", key: "", query: [("uploads", "")]))
        let xml = Substring(String(decoding: response.body, as: UTF8.self))
        return S3XML.elements("Upload", in: xml).compactMap { upload in
            guard let key = S3XML.value("Key", in: upload), let id = S3XML.value("UploadId", in: upload) else { return nil }
            return (key, id)
        }
    }
}

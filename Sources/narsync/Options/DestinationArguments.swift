import ArgumentParser
import Foundation
import BinaryCache
import NixStore
import Replication

/// The command line's arguments of where and how narsync publishes: destination, signing keys,
/// parallelism, compression. `resolve` turns them into an opened destination and the
/// pipeline's `PublishOptions`.
struct DestinationArguments: ParsableArguments {
    @Option(name: .customLong("to"), help: ArgumentHelp(
        "The binary cache: file:///dir, s3://bucket?region=...&endpoint=..., or http(s)://host/path.",
        valueName: "url"))
    var destination: String?

    @Option(name: .customLong("key-file"), help: ArgumentHelp(
        "Secret signing key in Nix's name:base64 format (narsync keygen or nix-store --generate-binary-cache-key); repeat to sign with several. Must not be readable by group or others.",
        valueName: "file"))
    var keyFiles: [String] = []

    @Option(help: "Uploads in flight at once, at most: a server that throttles (503 SlowDown, 429) lowers the requests in flight, which grow back once it stops.")
    var jobs: Int = 4

    @Option(name: .customLong("compression-level"), help: "zstd compression level, 1 (fast) to 19 (small).")
    var compressionLevel: Int32 = 3

    @Option(name: .customLong("zstd-threads"), help: ArgumentHelp(
        "libzstd worker threads, shared by the NARs compressing at once (each NAR of 4 MiB or more gets at least one); 0 compresses on the uploading thread. Default: one per core."))
    var zstdThreads: Int32?

    @Option(help: "Priority written to a new cache's nix-cache-info; lower is preferred (cache.nixos.org has 40).")
    var priority: Int = 40

    @Option(name: .customLong("part-size-mib"), help: "S3: size of the first parts of a multipart upload, and of the largest single PUT (at least 5).")
    var partSizeMiB = 8

    @Option(name: .customLong("parts-in-flight"), help: "S3: parts sent at once; with the part size, this bounds upload memory.")
    var partsInFlight = 4

    @Option(name: .customLong("bearer-token-file"), help: ArgumentHelp("HTTP(S): file holding a bearer token for the cache.", valueName: "file"))
    var bearerTokenFile: String?

    @Option(name: .customLong("credentials-file"), help: ArgumentHelp(
        "S3: an AWS shared credentials file (as AWS_SHARED_CREDENTIALS_FILE), e.g. a systemd credential; used instead of AWS_ACCESS_KEY_ID.",
        valueName: "file"))
    var credentialsFile: String?

    @Option(name: .customLong("aws-config-file"), help: ArgumentHelp(
        "S3: an AWS config file (as AWS_CONFIG_FILE): profiles with role_arn, credential_process, SSO, region, endpoint_url.",
        valueName: "file"))
    var awsConfigFile: String?

    @Option(name: .customLong("aws-profile"), help: ArgumentHelp(
        "S3: the AWS profile to use (as AWS_PROFILE; a store URL's profile= wins); used instead of AWS_ACCESS_KEY_ID.",
        valueName: "name"))
    var awsProfile: String?

    @Option(name: .customLong("netrc-file"), help: ArgumentHelp("HTTP(S): netrc file with the cache's login.", valueName: "file"))
    var netrcFile: String?

    @Option(name: .customLong("ca-file"), help: ArgumentHelp(
        "HTTPS: PEM file of the CAs to trust instead of the system store (a URL's ca-file= wins; then AWS_CA_BUNDLE, NIX_SSL_CERT_FILE, SSL_CERT_FILE).",
        valueName: "file"))
    var caFile: String?

    /// For tests of outages: how often a request is tried before its path fails and waits in the
    /// queue (the default retries for up to five minutes).
    @Option(name: .customLong("request-attempts"), help: .hidden)
    var requestAttempts: Int?

    /// For tests of stalled connections: how long a request may move no byte before it is
    /// dropped and retried (default 60 s), so that a stall costs seconds, not minutes.
    @Option(name: .customLong("stall-timeout-seconds"), help: .hidden)
    var stallTimeoutSeconds: Double?

    /// For tests of gc against writers: how often a writer reads the cache's gc lease
    /// (default 10 s; a gc's --settle-seconds must be well above it).
    @Option(name: .customLong("gc-lease-recheck-seconds"), help: .hidden)
    var gcLeaseRecheckSeconds: Double?

    func validate() throws {
        guard (5...5120).contains(partSizeMiB) else { throw ValidationError("--part-size-mib must be between 5 and 5120") }
        guard (1...64).contains(partsInFlight) else { throw ValidationError("--parts-in-flight must be between 1 and 64") }
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 256, not \(jobs)") }
        guard (1...19).contains(compressionLevel) else {
            throw ValidationError("--compression-level must be between 1 and 19, not \(compressionLevel)")
        }
        if let requestAttempts, !(1...100).contains(requestAttempts) {
            throw ValidationError("--request-attempts must be between 1 and 100, not \(requestAttempts)")
        }
        if let stallTimeoutSeconds, !(0.5...3600).contains(stallTimeoutSeconds) {
            throw ValidationError("--stall-timeout-seconds must be between 0.5 and 3600, not \(stallTimeoutSeconds)")
        }
        if let zstdThreads, !(0...64).contains(zstdThreads) {
            throw ValidationError("--zstd-threads must be between 0 and 64, not \(zstdThreads)")
        }
    }

    /// Loads keys and opens the destination (`url`, or `--to`): everything that can be wrong with
    /// the user's input is found here, before anything is uploaded.
    func resolve(
        storeDirectory: StoreDirectory, repair: Bool, url: String? = nil, keyFiles: [String]? = nil
    ) throws -> (any BinaryCacheDestination, PublishOptions) {
        let keys = try (keyFiles ?? self.keyFiles).map { try SecretKey(contentsOfFile: $0) }
        for file in secretFiles { try SecretFile.check(file) }
        let destination = try Destinations.open(url ?? self.destination ?? "", options: destinationOptions)
        var options = PublishOptions(
            signingKeys: keys, jobs: jobs, compressionLevel: compressionLevel, compressionWorkers: zstdThreads,
            repair: repair, cacheInfo: CacheInfo(storeDirectory: storeDirectory, priority: priority))
        if let gcLeaseRecheckSeconds { options.gcLeaseRecheckInterval = .milliseconds(Int(gcLeaseRecheckSeconds * 1000)) }
        return (destination, options)
    }

    /// The credential files given, each holding a secret (see `SecretFile`).
    var secretFiles: [String] { [credentialsFile, bearerTokenFile, netrcFile].compactMap { $0 } }

    /// How remote destinations send, and where their credentials come from.
    var destinationOptions: DestinationOptions {
        var options = CacheAccessOptions.destinationOptions(
            credentialsFile: credentialsFile, awsConfigFile: awsConfigFile, awsProfile: awsProfile,
            bearerTokenFile: bearerTokenFile, netrcFile: netrcFile)
        options.partSize = partSizeMiB << 20
        options.partsInFlight = partsInFlight
        options.caFile = caFile
        // --jobs uploads each send a request at a time, and large ones up to --parts-in-flight
        // parts besides: the most requests a destination sees, which throttling lowers.
        options.maximumRequestsInFlight = jobs + partsInFlight
        if let requestAttempts { options.retry.maximumAttempts = requestAttempts }
        if let stallTimeoutSeconds { options.stallTimeout = .milliseconds(Int(stallTimeoutSeconds * 1000)) }
        return options
    }
}

/// The name `DestinationArguments` had, for branches written before the rename.
@available(*, deprecated, renamed: "DestinationArguments")
typealias PublishingOptions = DestinationArguments

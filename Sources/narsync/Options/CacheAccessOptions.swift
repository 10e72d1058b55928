import ArgumentParser
import BinaryCache
import Foundation

/// How `verify` and `gc` reach a cache: the credentials, as `backfill` takes them.
struct CacheAccessOptions: ParsableArguments {
    @Option(name: .customLong("credentials-file"), help: ArgumentHelp(
        "S3: an AWS shared credentials file (as AWS_SHARED_CREDENTIALS_FILE); used instead of AWS_ACCESS_KEY_ID.",
        valueName: "file"))
    var credentialsFile: String?

    @Option(name: .customLong("bearer-token-file"), help: ArgumentHelp("HTTP(S): file holding a bearer token for the cache.", valueName: "file"))
    var bearerTokenFile: String?

    @Option(name: .customLong("netrc-file"), help: ArgumentHelp("HTTP(S): netrc file with the cache's login.", valueName: "file"))
    var netrcFile: String?

    /// For tests of outages, as `backfill --request-attempts`.
    @Option(name: .customLong("request-attempts"), help: .hidden)
    var requestAttempts: Int?

    /// Opens the cache after checking the credential files; every failure is bad input.
    func open(_ url: String) throws -> any CacheMaintenance {
        for file in [credentialsFile, bearerTokenFile, netrcFile].compactMap({ $0 }) { try SecretFile.check(file) }
        var options = Self.destinationOptions(credentialsFile: credentialsFile, bearerTokenFile: bearerTokenFile, netrcFile: netrcFile)
        if let requestAttempts { options.retry.maximumAttempts = max(1, requestAttempts) }
        return try Destinations.openForMaintenance(url, options: options)
    }

    /// Destination options with credentials from the files given: a credentials file, AWS
    /// config file or profile named on the command line wins over credentials in the environment.
    static func destinationOptions(
        credentialsFile: String?, awsConfigFile: String? = nil, awsProfile: String? = nil,
        bearerTokenFile: String?, netrcFile: String?
    ) -> DestinationOptions {
        var environment = ProcessInfo.processInfo.environment
        if credentialsFile != nil || awsProfile != nil {
            for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] { environment[name] = nil }
        }
        if let credentialsFile { environment["AWS_SHARED_CREDENTIALS_FILE"] = credentialsFile }
        if let awsConfigFile { environment["AWS_CONFIG_FILE"] = awsConfigFile }
        if let awsProfile { environment["AWS_PROFILE"] = awsProfile }
        return DestinationOptions(bearerTokenFile: bearerTokenFile, netrcFile: netrcFile, environment: environment)
    }
}

import Foundation
import Logging

/// The AWS SDKs' credential chain: the environment, web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`),
/// the profile, the ECS container agent, EC2 instance metadata. The first source set up here
/// wins; one set up but failing stops the chain with its error. A profile named in the store
/// URL skips the environment's keys, as Nix does.
public struct CredentialChain: Sendable {
    let context: CredentialContext

    /// The source that won and what it gave.
    public struct Resolution: Sendable {
        public var provider: any CredentialProvider
        public var credentials: S3Credentials
    }

    public init(settings: AWSSettings, logger: Logger = Logger(label: "narsync.credentials")) {
        context = CredentialContext(settings: settings, logger: logger)
    }

    /// The chain's sources, in order; each is only built here, not yet asked.
    func providers() -> [(name: String, make: () throws -> any CredentialProvider)] {
        let settings = context.settings
        var sources: [(name: String, make: () throws -> any CredentialProvider)] = []
        if !settings.profileFromURL {
            sources.append(("environment", { EnvironmentProvider(settings: settings) }))
        }
        sources += [
            ("web identity", { [context] in try WebIdentityProvider.fromEnvironment(settings, sts: try context.sts()) }),
            ("profile [\(settings.profileName)]", { [context] in ProfileProvider(context: context) }),
            ("ECS container", { [context] in try ContainerProvider(settings: settings, http: context.localHTTP) }),
            ("EC2 instance metadata", { [context] in InstanceMetadataProvider(client: context.instanceMetadata) }),
        ]
        return sources
    }

    /// Asks each source in turn. Blocks (files, processes, HTTP with short timeouts).
    /// - Throws: `DestinationError` (configuration) naming every source tried and why it gave
    ///   nothing, or the error of a source that was set up but failed.
    public func resolve() throws -> Resolution {
        var tried: [String] = []
        for source in providers() {
            do {
                let provider = try source.make()
                return Resolution(provider: provider, credentials: try provider.fetch())
            } catch CredentialSourceError.unavailable(let reason) {
                tried.append("\(source.name): \(reason)")
            } catch {
                throw DestinationError.configuration(
                    "S3", "no AWS credentials from \(source.name): \(error)",
                    hint: "correct the \(source.name) settings, or remove them to let the next source of the chain be used")
            }
        }
        throw DestinationError.configuration(
            "S3", "no AWS credentials; tried \(tried.joined(separator: "; "))",
            hint: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, add the profile to the shared files, or run where a role is given")
    }

    /// The region when the URL and the settings name none: instance metadata's, if it answers
    /// (and is not turned off), else nil.
    func instanceRegion() -> String? {
        context.instanceMetadata.region()
    }
}

import Foundation

/// The selected profile of the shared files (see `AWSConfigFiles`), in the order the AWS
/// tools use: `role_arn` (assumed with STS from `source_profile`, `credential_source` or
/// `web_identity_token_file`), then SSO, then static keys, then `credential_process`. The
/// files are read again at every fetch, so that a rotated credentials file is picked up.
struct ProfileProvider: CredentialProvider {
    let context: CredentialContext

    var name: String { "profile [\(context.settings.profileName)]" }

    /// Profiles a `source_profile` chain may pass through, against loops.
    static let maximumDepth = 5

    func fetch() throws -> S3Credentials {
        try provider().fetch()
    }

    /// The provider the profile asks for, as it is written now.
    func provider() throws -> any CredentialProvider {
        let settings = context.settings
        let files = AWSConfigFiles(environment: settings.environment)
        guard let profile = files.profile(settings.profileName) else {
            let problem = "neither \(files.credentialsPath) nor \(files.configPath) has profile [\(settings.profileName)]"
            // A profile the user named must exist; the default one need not.
            if settings.profileWasNamed { throw CredentialSourceError.failed(problem) }
            throw CredentialSourceError.unavailable(problem)
        }
        return try provider(for: profile, files: files, depth: 0)
    }

    private func provider(for profile: AWSProfile, files: AWSConfigFiles, depth: Int) throws -> any CredentialProvider {
        let label = "profile [\(profile.name)]"
        if let roleARN = profile["role_arn"], let tokenFile = profile["web_identity_token_file"] {
            return WebIdentityProvider(
                tokenFile: tokenFile, roleARN: roleARN,
                sessionName: profile["role_session_name"] ?? WebIdentityProvider.defaultSessionName, sts: try context.sts(),
                name: "\(label) web identity (\(roleARN))")
        }
        if let roleARN = profile["role_arn"] {
            return try AssumeRoleProvider(
                roleARN: roleARN, profile: profile, source: try roleSource(of: profile, files: files, depth: depth),
                sts: context.sts(), name: "\(label) role \(roleARN)")
        }
        if profile["sso_session"] != nil || profile["sso_start_url"] != nil {
            return try SSOProvider(profile: profile, settings: context.settings, http: context.remoteHTTP)
        }
        if let keys = try staticKeys(of: profile) { return StaticCredentialProvider(keys) }
        if let command = profile["credential_process"] {
            return ProcessProvider(command: command, environment: context.settings.environment, name: "\(label) credential_process")
        }
        throw CredentialSourceError.failed(
            "\(label) of \(profile.origin) has no aws_access_key_id, role_arn, sso_session or credential_process")
    }

    /// Static keys of the profile, if it has some.
    private func staticKeys(of profile: AWSProfile) throws -> S3Credentials? {
        guard let keyID = profile["aws_access_key_id"] else { return nil }
        guard let secret = profile["aws_secret_access_key"] else {
            throw CredentialSourceError.failed("\(profile.origin) has aws_access_key_id but no aws_secret_access_key")
        }
        return S3Credentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: profile["aws_session_token"],
            source: profile.credentialsOrigin ?? profile.origin)
    }

    /// Whose credentials assume a profile's role.
    private func roleSource(of profile: AWSProfile, files: AWSConfigFiles, depth: Int) throws -> any CredentialProvider {
        let label = "profile [\(profile.name)]"
        if let sourceName = profile["source_profile"] {
            guard depth < Self.maximumDepth else {
                throw CredentialSourceError.failed("\(label): source_profile goes through more than \(Self.maximumDepth) profiles (a loop?)")
            }
            guard let source = files.profile(sourceName) else {
                throw CredentialSourceError.failed("\(label) has source_profile \(sourceName), which is in neither \(files.credentialsPath) nor \(files.configPath)")
            }
            // A profile that is its own source signs with its own keys.
            if sourceName == profile.name, let keys = try staticKeys(of: source) { return StaticCredentialProvider(keys) }
            return try provider(for: source, files: files, depth: depth + 1)
        }
        switch profile["credential_source"] {
        case "Environment"?:
            return EnvironmentProvider(settings: context.settings)
        case "Ec2InstanceMetadata"?:
            return InstanceMetadataProvider(client: context.instanceMetadata)
        case "EcsContainer"?:
            return try ContainerProvider(settings: context.settings, http: context.localHTTP)
        case let other?:
            throw CredentialSourceError.failed("\(label) has credential_source \(other); narsync knows Environment, Ec2InstanceMetadata and EcsContainer")
        case nil:
            throw CredentialSourceError.failed("\(label) has role_arn but no source_profile, credential_source or web_identity_token_file")
        }
    }
}

/// STS `AssumeRole` in the name of another source's credentials, with the profile's
/// `role_session_name`, `external_id` and `duration_seconds`.
struct AssumeRoleProvider: CredentialProvider {
    let roleARN: String
    let sessionName: String
    let externalID: String?
    let durationSeconds: Int?
    let source: any CredentialProvider
    let sts: STSClient
    let name: String

    init(roleARN: String, profile: AWSProfile, source: any CredentialProvider, sts: STSClient, name: String) throws {
        self.roleARN = roleARN
        sessionName = profile["role_session_name"] ?? WebIdentityProvider.defaultSessionName
        externalID = profile["external_id"]
        if let duration = profile["duration_seconds"] {
            guard let seconds = Int(duration), (900...43_200).contains(seconds) else {
                throw CredentialSourceError.failed("profile [\(profile.name)]: duration_seconds must be 900 to 43200, not \(duration)")
            }
            durationSeconds = seconds
        } else {
            durationSeconds = nil
        }
        self.source = source
        self.sts = sts
        self.name = name
    }

    func fetch() throws -> S3Credentials {
        let sourceCredentials = try source.fetch()
        return try sts.assumeRole(
            roleARN: roleARN, sessionName: sessionName, externalID: externalID, durationSeconds: durationSeconds,
            source: sourceCredentials, label: name)
    }
}

import NarsyncConfiguration

/// The value each setting ended up with once ArgumentParser applied the options' defaults,
/// as config.toml would write it. The switch is exhaustive: a setting declared in `SettingName`
/// without a value here does not compile.
extension WatchCommand {
    func words(of setting: Setting) -> [String] {
        let optional = { (value: String?) in value.map { [$0] } ?? [] }
        switch setting.name {
        case .stateDir: return [service.stateDirectory]
        case .logLevel: return optional(logging.level?.rawValue)
        case .logFormat: return [logging.format.rawValue]
        case .metricsListen: return optional(metrics.listen)
        case .storeRoot: return [store.root]
        case .storeDir: return [store.storeDirectory]
        case .initialBackfill: return [String(initialBackfill)]
        case .debounceMs: return [String(debounceMilliseconds)]
        case .recheckSeconds: return [String(recheckSeconds)]
        case .retryInitialSeconds: return [String(retryInitialSeconds)]
        case .graceSeconds: return [String(graceSeconds)]
        case .abortUploadsAfterHours: return [String(abortUploadsAfterHours)]
        case .refreshAfter: return [refreshAfter]
        case .databaseBusySeconds: return [String(databaseBusySeconds)]
        case .hookSocket: return [hookSocket]
        case .spoolDir: return optional(spoolDirectory)
        case .hookTrustUser: return hookTrustUsers
        case .hookTrustGroup: return hookTrustGroups
        case .to: return optional(publishing.destination)
        case .keyFile: return publishing.keyFiles
        case .credentialsFile: return optional(publishing.credentialsFile)
        case .awsConfigFile: return optional(publishing.awsConfigFile)
        case .awsProfile: return optional(publishing.awsProfile)
        case .bearerTokenFile: return optional(publishing.bearerTokenFile)
        case .netrcFile: return optional(publishing.netrcFile)
        case .caFile: return optional(publishing.caFile)
        case .jobs: return [String(publishing.jobs)]
        case .compressionLevel: return [String(publishing.compressionLevel)]
        case .zstdThreads: return optional(publishing.zstdThreads.map(String.init))
        case .priority: return [String(publishing.priority)]
        case .partSizeMib: return [String(publishing.partSizeMiB)]
        case .partsInFlight: return [String(publishing.partsInFlight)]
        case .include: return includes
        case .exclude: return excludes
        case .keepDerivations: return [String(keepDerivations)]
        case .skipSignedBy: return skipSignedBy
        }
    }
}

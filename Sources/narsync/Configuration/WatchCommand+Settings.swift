import NarsyncConfiguration

/// The value each setting ended up with once ArgumentParser applied the options' defaults,
/// as config.toml would write it.
extension WatchCommand {
    func words(of setting: Setting) -> [String] {
        let optional = { (value: String?) in value.map { [$0] } ?? [] }
        switch setting.flag {
        case "state-dir": return [service.stateDirectory]
        case "log-level": return optional(logging.level?.rawValue)
        case "log-format": return [logging.format.rawValue]
        case "metrics-listen": return optional(metrics.listen)
        case "store-root": return [store.root]
        case "store-dir": return [store.storeDirectory]
        case "initial-backfill": return [String(initialBackfill)]
        case "debounce-ms": return [String(debounceMilliseconds)]
        case "recheck-seconds": return [String(recheckSeconds)]
        case "retry-initial-seconds": return [String(retryInitialSeconds)]
        case "grace-seconds": return [String(graceSeconds)]
        case "abort-uploads-after-hours": return [String(abortUploadsAfterHours)]
        case "database-busy-seconds": return [String(databaseBusySeconds)]
        case "hook-socket": return [hookSocket]
        case "spool-dir": return optional(spoolDirectory)
        case "hook-trust-user": return hookTrustUsers
        case "hook-trust-group": return hookTrustGroups
        case "to": return optional(publishing.destination)
        case "key-file": return publishing.keyFiles
        case "credentials-file": return optional(publishing.credentialsFile)
        case "aws-config-file": return optional(publishing.awsConfigFile)
        case "aws-profile": return optional(publishing.awsProfile)
        case "bearer-token-file": return optional(publishing.bearerTokenFile)
        case "netrc-file": return optional(publishing.netrcFile)
        case "jobs": return [String(publishing.jobs)]
        case "compression-level": return [String(publishing.compressionLevel)]
        case "zstd-threads": return optional(publishing.zstdThreads.map(String.init))
        case "priority": return [String(publishing.priority)]
        case "part-size-mib": return [String(publishing.partSizeMiB)]
        case "parts-in-flight": return [String(publishing.partsInFlight)]
        case "include": return includes
        case "exclude": return excludes
        case "keep-derivations": return [String(keepDerivations)]
        case "skip-signed-by": return skipSignedBy
        default: preconditionFailure("setting --\(setting.flag) has no value in WatchCommand")
        }
    }
}

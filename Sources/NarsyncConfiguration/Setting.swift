/// One setting of `narsync watch` under its three names: the command-line flag (`--jobs`), the
/// environment variable (`NARSYNC_JOBS`) and the key of config.toml (`jobs` in
/// `[[destination]]`). The command line's option structs stay the one definition of what a
/// setting means; this table only says where else a value may come from.
public struct Setting: Sendable {
    public enum Kind: Sendable {
        /// One value: `--jobs 4`, `jobs = 4`.
        case value
        /// Repeatable: `--key-file a --key-file b`, `key-files = ["a", "b"]`, `NARSYNC_KEY_FILE=a,b`.
        case list
        /// On or off: `--keep-derivations`, `keep-derivations = true`, `NARSYNC_KEEP_DERIVATIONS=1`.
        case flag
    }

    /// Which setting this is; its flag, table, key and kind follow from it.
    public let name: SettingName
    /// The long flag without its dashes.
    public var flag: String { name.rawValue }
    /// The TOML table the key lives in: nil for the top level, "destination" for `[[destination]]`.
    public let table: String?
    public let key: String
    public let kind: Kind
    /// Whether the value names a file holding a secret: checked for its permissions, never read
    /// into the configuration.
    let isSecretFile: Bool

    var environmentName: String { "NARSYNC_" + flag.uppercased().replacingOccurrences(of: "-", with: "_") }

    /// `key`, `store.root` or `destination.jobs`, as messages name it.
    public var qualifiedKey: String { table.map { "\($0).\(key)" } ?? key }

    public var isPerDestination: Bool { table == Setting.destinationTable }

    public static let destinationTable = "destination"

    /// Every setting of `narsync watch` that config.toml and the environment can give, in the
    /// order `config check` prints them.
    public static let all: [Setting] = SettingName.allCases.map(\.setting)

    public static func named(flag: String) -> Setting? { SettingName(rawValue: flag)?.setting }
}

/// The settings of `narsync watch`, each declared once, by its flag. Where each one lives in
/// config.toml follows from the exhaustive switch below, and the value a parsed command has for
/// it from the exhaustive switch of `WatchCommand.words(of:)`: a setting added here and not
/// there does not compile.
public enum SettingName: String, CaseIterable, Sendable {
    case stateDir = "state-dir"
    case logLevel = "log-level"
    case logFormat = "log-format"
    case metricsListen = "metrics-listen"
    case storeRoot = "store-root"
    case storeDir = "store-dir"
    case initialBackfill = "initial-backfill"
    case debounceMs = "debounce-ms"
    case recheckSeconds = "recheck-seconds"
    case retryInitialSeconds = "retry-initial-seconds"
    case graceSeconds = "grace-seconds"
    case abortUploadsAfterHours = "abort-uploads-after-hours"
    case refreshAfter = "refresh-after"
    case databaseBusySeconds = "database-busy-seconds"
    case hookSocket = "hook-socket"
    case spoolDir = "spool-dir"
    case hookTrustUser = "hook-trust-user"
    case hookTrustGroup = "hook-trust-group"
    case to
    case keyFile = "key-file"
    case credentialsFile = "credentials-file"
    case awsConfigFile = "aws-config-file"
    case awsProfile = "aws-profile"
    case bearerTokenFile = "bearer-token-file"
    case netrcFile = "netrc-file"
    case caFile = "ca-file"
    case jobs
    case compressionLevel = "compression-level"
    case zstdThreads = "zstd-threads"
    case priority
    case partSizeMib = "part-size-mib"
    case partsInFlight = "parts-in-flight"
    case include
    case exclude
    case keepDerivations = "keep-derivations"
    case skipSignedBy = "skip-signed-by"

    /// Where the setting lives in config.toml, and of what kind it is.
    public var setting: Setting {
        switch self {
        case .stateDir, .logLevel, .logFormat: top(rawValue)
        case .metricsListen: top("listen", table: "metrics")
        case .storeRoot: top("root", table: "store")
        case .storeDir: top("dir", table: "store")
        case .initialBackfill: top(rawValue, table: "watch", kind: .flag)
        case .debounceMs, .recheckSeconds, .retryInitialSeconds, .graceSeconds, .abortUploadsAfterHours, .refreshAfter,
             .databaseBusySeconds:
            top(rawValue, table: "watch")
        case .hookSocket: top("socket", table: "hook")
        case .spoolDir: top("spool-dir", table: "hook")
        case .hookTrustUser: top("trust-users", table: "hook", kind: .list)
        case .hookTrustGroup: top("trust-groups", table: "hook", kind: .list)
        case .to: destination(key: "url")
        case .keyFile: destination(key: "key-files", kind: .list, secret: true)
        case .credentialsFile, .awsConfigFile, .bearerTokenFile, .netrcFile: destination(secret: true)
        case .awsProfile, .caFile, .jobs, .compressionLevel, .zstdThreads, .priority, .partSizeMib, .partsInFlight: destination()
        case .include, .exclude, .skipSignedBy: destination(kind: .list)
        case .keepDerivations: destination(kind: .flag)
        }
    }

    private func top(_ key: String, table: String? = nil, kind: Setting.Kind = .value) -> Setting {
        Setting(name: self, table: table, key: key, kind: kind, isSecretFile: false)
    }

    private func destination(key: String? = nil, kind: Setting.Kind = .value, secret: Bool = false) -> Setting {
        Setting(name: self, table: Setting.destinationTable, key: key ?? rawValue, kind: kind, isSecretFile: secret)
    }
}

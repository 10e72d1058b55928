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

    /// The long flag without its dashes.
    public var flag: String
    /// The TOML table the key lives in: nil for the top level, "destination" for `[[destination]]`.
    public var table: String?
    public var key: String
    public var kind: Kind = .value
    /// Whether the value names a file holding a secret: checked for its permissions, never read
    /// into the configuration.
    var isSecretFile = false

    var environmentName: String { "NARSYNC_" + flag.uppercased().replacingOccurrences(of: "-", with: "_") }

    /// `key`, `store.root` or `destination.jobs`, as messages name it.
    public var qualifiedKey: String { table.map { "\($0).\(key)" } ?? key }

    public var isPerDestination: Bool { table == Setting.destinationTable }

    public static let destinationTable = "destination"

    /// Every setting of `narsync watch` that config.toml and the environment can give.
    public static let all: [Setting] = [
        Setting(flag: "state-dir", key: "state-dir"),
        Setting(flag: "log-level", key: "log-level"),
        Setting(flag: "log-format", key: "log-format"),
        Setting(flag: "metrics-listen", table: "metrics", key: "listen"),
        Setting(flag: "store-root", table: "store", key: "root"),
        Setting(flag: "store-dir", table: "store", key: "dir"),
        Setting(flag: "initial-backfill", table: "watch", key: "initial-backfill", kind: .flag),
        Setting(flag: "debounce-ms", table: "watch", key: "debounce-ms"),
        Setting(flag: "recheck-seconds", table: "watch", key: "recheck-seconds"),
        Setting(flag: "retry-initial-seconds", table: "watch", key: "retry-initial-seconds"),
        Setting(flag: "grace-seconds", table: "watch", key: "grace-seconds"),
        Setting(flag: "abort-uploads-after-hours", table: "watch", key: "abort-uploads-after-hours"),
        Setting(flag: "database-busy-seconds", table: "watch", key: "database-busy-seconds"),
        Setting(flag: "hook-socket", table: "hook", key: "socket"),
        Setting(flag: "spool-dir", table: "hook", key: "spool-dir"),
        Setting(flag: "hook-trust-user", table: "hook", key: "trust-users", kind: .list),
        Setting(flag: "hook-trust-group", table: "hook", key: "trust-groups", kind: .list),
        destination("to", key: "url"),
        destination("key-file", key: "key-files", kind: .list, secret: true),
        destination("credentials-file", secret: true),
        destination("aws-config-file"),
        destination("aws-profile"),
        destination("bearer-token-file", secret: true),
        destination("netrc-file", secret: true),
        destination("jobs"),
        destination("compression-level"),
        destination("zstd-threads"),
        destination("priority"),
        destination("part-size-mib"),
        destination("parts-in-flight"),
        destination("include", kind: .list),
        destination("exclude", kind: .list),
        destination("keep-derivations", kind: .flag),
        destination("skip-signed-by", kind: .list),
    ]

    public static func named(flag: String) -> Setting? { all.first { $0.flag == flag } }

    private static func destination(_ flag: String, key: String? = nil, kind: Kind = .value, secret: Bool = false) -> Setting {
        Setting(flag: flag, table: destinationTable, key: key ?? flag, kind: kind, isSecretFile: secret)
    }
}

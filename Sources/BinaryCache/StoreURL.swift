import Foundation

/// A store URL as Nix writes it, `scheme://rest?name=value&...`, split into its parts.
struct StoreURL {
    var scheme: String
    /// What stands between `://` and `?`.
    var rest: String
    /// Parameters in order, percent-decoded.
    var parameters: [(name: String, value: String)]

    init(_ url: String) throws {
        guard let separator = url.range(of: "://") else {
            throw DestinationError.configuration(url, "not a URL (expected scheme://...)")
        }
        scheme = url[..<separator.lowerBound].lowercased()
        let afterScheme = url[separator.upperBound...]
        let query = afterScheme.firstIndex(of: "?")
        rest = String(afterScheme[..<(query ?? afterScheme.endIndex)])
        parameters = []
        guard let query else { return }
        for pair in afterScheme[afterScheme.index(after: query)...].split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in text.removingPercentEncoding ?? String(text) }
            parameters.append((decode(parts[0]), parts.count > 1 ? decode(parts[1]) : ""))
        }
    }

    /// Settings of Nix's binary cache stores that concern what is written, not where: the
    /// replication pipeline reads the ones narsync supports, so a destination accepts them all.
    static let nixCacheSettings: Set<String> = [
        "compression", "compression-level", "parallel-compression", "secret-key", "secret-keys",
        "write-nar-listing", "write-debug-info", "index-debug-info", "local-nar-cache", "want-mass-query",
        "priority", "narinfo-compression", "ls-compression", "log-compression", "trusted",
        "path-info-cache-size", "system-features", "multipart-upload", "multipart-threshold",
    ]

    /// Throws for a parameter neither `known` to the destination nor one of Nix's cache settings,
    /// so that a misspelt `regoin=` does not go unnoticed.
    func rejectUnknownParameters(known: Set<String>, location: String) throws {
        for (name, _) in parameters where !known.contains(name) && !Self.nixCacheSettings.contains(name) {
            throw DestinationError.configuration(
                location, "unknown URL parameter '\(name)'",
                hint: "parameters this destination understands: \(known.sorted().joined(separator: ", "))")
        }
    }

    func value(_ name: String) -> String? {
        parameters.last { $0.name == name }?.value
    }
}

import NixStore

/// The paths `narsync hook` was given, sorted into a request and what it dropped.
///
/// Nix sets `OUT_PATHS` to store paths separated by spaces; scripts may pass paths as arguments
/// or one per line on standard input. Every word becomes a `StorePath` or is dropped: whatever
/// it holds (`..`, globs, shell metacharacters, newlines) never reaches a file name or a program.
public struct HookInput: Sendable {
    /// The valid paths, or nil if no output path was valid.
    public var request: HookRequest?
    /// Each dropped word with why, as one printable line (control characters escaped).
    public var dropped: [String]

    /// The most words looked at; the rest are dropped as a whole (a request holds at most
    /// `HookRequest.maximumPathCount` paths).
    public static let maximumWordCount = HookRequest.maximumPathCount

    /// - Parameters:
    ///   - outputs: texts holding output paths separated by whitespace (OUT_PATHS, arguments, standard input).
    ///   - derivation: `DRV_PATH`, if set and not empty.
    public init(outputs: [String], derivation: String?, storeDirectory: StoreDirectory) {
        var dropped: [String] = []
        var paths: [StorePath] = []
        var wordCount = 0
        for text in outputs {
            for word in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }) {
                wordCount += 1
                guard wordCount <= Self.maximumWordCount else { continue }
                do {
                    paths.append(try storeDirectory.parsePath(String(word)))
                } catch {
                    dropped.append(Self.reason(String(word), error))
                }
            }
        }
        if wordCount > Self.maximumWordCount {
            dropped.append("\(wordCount - Self.maximumWordCount) paths beyond the first \(Self.maximumWordCount)")
        }

        var derivationPath: StorePath?
        if let derivation, !derivation.isEmpty {
            do {
                let path = try storeDirectory.parsePath(derivation)
                if path.isDerivation { derivationPath = path } else { dropped.append("DRV_PATH '\(path)' is not a .drv") }
            } catch {
                dropped.append("DRV_PATH: " + Self.reason(derivation, error))
            }
        }
        self.dropped = dropped
        request = paths.isEmpty ? nil : HookRequest(outputs: paths, derivation: derivationPath)
    }

    /// Why `word` was dropped, short enough for one line of a build log.
    private static func reason(_ word: String, _ error: any Error) -> String {
        let limit = 300
        guard word.utf8.count > limit else { return "\(error)" }
        return "'\(String(word.prefix(limit)).debugQuoted)...' (\(word.utf8.count) bytes) is not a store path"
    }
}

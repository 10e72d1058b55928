import StorePaths

/// The paths `narsync hook` was given, sorted into a request and what it dropped.
///
/// Nix sets `OUT_PATHS` to store paths separated by spaces; scripts may pass paths as arguments
/// or separated by whitespace on standard input. Every word becomes a `StorePath` or is dropped:
/// whatever it holds (`..`, globs, shell metacharacters, newlines) never reaches a file name or
/// a program.
public struct HookInput: Sendable {
    /// The valid paths, or nil if no path was valid. Outputs may be empty when the
    /// derivation is known: Nix 2.8.0 leaves OUT_PATHS empty.
    public var request: HookRequest?
    /// Why words were dropped, one printable line each (control characters escaped), for the
    /// first `describedDropLimit` of them.
    public var dropped: [String] = []
    /// How many words were dropped in all, including valid paths beyond the request size limit.
    public var droppedCount = 0

    public static let describedDropLimit = 100

    /// - Parameters:
    ///   - outputs: texts holding output paths separated by whitespace (OUT_PATHS, arguments, standard input).
    ///   - derivation: `DRV_PATH`, if set and not empty.
    public init(outputs: [String], derivation: String?, storeDirectory: StoreDirectory) {
        var derivationPath: StorePath?
        if let derivation, !derivation.isEmpty {
            do {
                let path = try storeDirectory.parsePath(derivation)
                if path.isDerivation { derivationPath = path } else { drop("DRV_PATH '\(path)' is not a .drv") }
            } catch {
                drop("DRV_PATH: " + Self.reason(derivation, error))
            }
        }

        // Only as many paths as fit in one request: the service would refuse a larger one.
        var size = HookRequest(outputs: [], derivation: derivationPath).serialized(storeDirectory: storeDirectory).count
        var tooMany = 0
        var paths: [StorePath] = []
        for text in outputs {
            // By scalars: as one Character, "\r\n" would separate nothing.
            for word in text.unicodeScalars.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(Substring.init) {
                do {
                    let path = try storeDirectory.parsePath(String(word))
                    let lineSize = "out \n".utf8.count + word.utf8.count
                    guard size + lineSize <= HookRequest.maximumSize else {
                        tooMany += 1
                        continue
                    }
                    size += lineSize
                    paths.append(path)
                } catch {
                    drop(Self.reason(String(word), error))
                }
            }
        }
        if tooMany > 0 {
            drop("\(tooMany) paths beyond the \(paths.count) that fit in one request of at most \(HookRequest.maximumSize) bytes")
            droppedCount += tooMany - 1
        }
        request = paths.isEmpty && derivationPath == nil ? nil : HookRequest(outputs: paths, derivation: derivationPath)
    }

    private mutating func drop(_ reason: String) {
        droppedCount += 1
        if dropped.count < Self.describedDropLimit { dropped.append(reason) }
    }

    /// Why `word` was dropped, short enough for one line of a build log.
    private static func reason(_ word: String, _ error: any Error) -> String {
        let limit = 300
        guard word.utf8.count > limit else { return "\(error)" }
        return "'\(String(word.prefix(limit)).debugQuoted)...' (\(word.utf8.count) bytes) is not a store path"
    }
}

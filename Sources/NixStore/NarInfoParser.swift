extension NarInfo {
    /// Parses narinfo text as Nix's `NarInfo::NarInfo` reads it: `Field: value` lines in any
    /// order, unknown fields (such as `System`) ignored, `Compression` defaulting to `bzip2`,
    /// `Deriver: unknown-deriver` meaning none; `StorePath`, `URL`, `NarHash` and a non-zero
    /// `NarSize` required. Unlike Nix, a field other than `Sig` given twice is an error.
    ///
    /// - Parameter source: where the text came from (a cache URL or file), for error messages.
    /// - Throws: `NarInfoError` naming `source` and the line at fault.
    public init(parsing text: String, storeDirectory: StoreDirectory, source: String) throws {
        var fields = NarInfoFields(source: source)
        // Lines end at every "\n" byte, as in Nix; split by Characters, a "\r\n" would not end one.
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        for (index, line) in lines.enumerated() {
            try fields.read(Substring(line), number: index + 1, storeDirectory: storeDirectory)
        }
        self = try fields.narInfo()
    }
}

/// A narinfo that Nix would refuse, or that narsync cannot use, with where and why.
public struct NarInfoError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The cache URL or file the text came from.
    public var source: String
    /// The 1-based line at fault; nil when the narinfo as a whole lacks something.
    public var line: Int?
    public var reason: String

    public var description: String {
        let place = line.map { " at line \($0)" } ?? ""
        return "narinfo '\(source.debugQuoted)' is corrupt\(place): \(reason)"
    }
}

/// The fields of a narinfo as its lines are read.
private struct NarInfoFields {
    let source: String
    var storePath: StorePath?
    var url: String?
    var compression: String?
    var fileHash: NixHash?
    var fileSize: UInt64?
    var narHash: NixHash?
    var narSize: UInt64?
    var references: [StorePath] = []
    var deriver: StorePath?
    var signatures: [String] = []
    var ca: String?
    /// The line each single-valued field was read from, to refuse a second one.
    var firstLines: [Substring: Int] = [:]

    init(source: String) { self.source = source }

    mutating func read(_ line: Substring, number: Int, storeDirectory: StoreDirectory) throws {
        func corrupt(_ reason: String) -> NarInfoError {
            NarInfoError(source: source, line: number, reason: reason)
        }
        guard let colon = line.firstIndex(of: ":") else {
            throw corrupt("expected 'Field: value', found '\(Self.excerpt(line))'")
        }
        let name = line[..<colon]
        var value = line[line.index(after: colon)...]
        if value.first == " " {
            value.removeFirst()
        } else if !value.isEmpty {
            throw corrupt("expected a space after '\(Self.excerpt(name)):'")
        }

        if name != "Sig" && Self.knownFields.contains(name) {
            if let first = firstLines[name] { throw corrupt("'\(name)' is given twice (first at line \(first))") }
            firstLines[name] = number
        }
        do {
            switch name {
            case "StorePath": storePath = try storeDirectory.parsePath(String(value))
            case "URL": url = String(value)
            case "Compression": compression = String(value)
            case "FileHash": fileHash = try NixHash(parsing: String(value))
            case "FileSize": fileSize = try Self.size(value, field: name)
            case "NarHash": narHash = try NixHash(parsing: String(value))
            case "NarSize": narSize = try Self.size(value, field: name)
            case "References": references = try value.split(separator: " ").map { try StorePath(baseName: String($0)) }
            case "Deriver": deriver = value == "unknown-deriver" ? nil : try StorePath(baseName: String(value))
            case "Sig": signatures.append(String(value))
            case "CA": ca = value.isEmpty ? nil : String(value)
            default: break  // Fields newer or older than narsync, as Nix ignores them.
            }
        } catch let error as NarInfoError {
            throw corrupt(error.reason)
        } catch {
            throw corrupt("\(name): \(error)")
        }
    }

    func narInfo() throws -> NarInfo {
        func missing(_ reason: String) -> NarInfoError {
            NarInfoError(source: source, line: nil, reason: reason)
        }
        guard let storePath else { throw missing("StorePath is missing") }
        guard let narHash else { throw missing("NarHash is missing") }
        guard let url, !url.isEmpty else { throw missing("URL is missing") }
        guard let narSize, narSize > 0 else { throw missing("NarSize is missing or zero") }
        return NarInfo(
            storePath: storePath,
            url: url,
            compression: compression.flatMap { $0.isEmpty ? nil : $0 } ?? "bzip2",
            fileHash: fileHash,
            fileSize: fileSize,
            narHash: narHash,
            narSize: narSize,
            references: NarInfo.asSet(references),
            deriver: deriver,
            signatures: NarInfo.asSet(signatures),
            ca: ca
        )
    }

    private static let knownFields: Set<Substring> = [
        "StorePath", "URL", "Compression", "FileHash", "FileSize", "NarHash", "NarSize",
        "References", "Deriver", "Sig", "CA",
    ]

    private static func size(_ value: Substring, field: Substring) throws -> UInt64 {
        guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let size = UInt64(value)
        else {
            throw NarInfoError(source: "", line: nil, reason: "\(field) '\(excerpt(value))' is not a byte count")
        }
        return size
    }

    /// At most 80 characters of hostile text, with control characters escaped.
    private static func excerpt(_ text: Substring) -> String {
        let quoted = String(text.prefix(80)).debugQuoted
        return text.count > 80 ? quoted + "..." : quoted
    }
}

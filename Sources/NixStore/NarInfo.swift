/// A `.narinfo` file: what a binary cache says about one store path.
///
/// `references` and `signatures` are sets in Nix; `rendered` and the parser give them in
/// bytewise order without duplicates, as Nix's std::set does, so that what narsync writes is
/// what Nix would write for the same path, and `==` compares them as sets.
public struct NarInfo: Sendable, Equatable {
    public var storePath: StorePath
    /// Where the compressed NAR is, relative to the cache root, e.g. `nar/<filehash>.nar.zst`.
    public var url: String
    /// `zstd`, `xz`, `bzip2`, `none`, ... as Nix names them.
    public var compression: String
    /// SHA-256 of the compressed NAR file.
    public var fileHash: NixHash?
    /// Size of the compressed NAR file.
    public var fileSize: UInt64?
    /// SHA-256 of the uncompressed NAR, the hash that signatures cover.
    public var narHash: NixHash
    public var narSize: UInt64
    public var references: [StorePath]
    public var deriver: StorePath?
    /// `Sig:` values, `<key name>:<base64 ed25519 signature>`.
    public var signatures: [String]
    /// Content address, e.g. `fixed:r:sha256:<nix32>`, for content-addressed paths.
    public var ca: String?

    public init(
        storePath: StorePath,
        url: String,
        compression: String,
        fileHash: NixHash?,
        fileSize: UInt64?,
        narHash: NixHash,
        narSize: UInt64,
        references: [StorePath],
        deriver: StorePath?,
        signatures: [String],
        ca: String?
    ) {
        self.storePath = storePath
        self.url = url
        self.compression = compression
        self.fileHash = fileHash
        self.fileSize = fileSize
        self.narHash = narHash
        self.narSize = narSize
        self.references = references
        self.deriver = deriver
        self.signatures = signatures
        self.ca = ca
    }

    /// The narinfo text, exactly as Nix's `NarInfo::to_string` writes it: fields in Nix's
    /// order, hashes in nix32, `References: ` present (with its space) even when empty,
    /// `Deriver` as a base name. `FileHash` and `FileSize` are left out when unknown.
    public func rendered(in storeDirectory: StoreDirectory) -> String {
        var text = "StorePath: \(storeDirectory.fullPath(of: storePath))\n"
        text += "URL: \(url)\n"
        text += "Compression: \(compression)\n"
        if let fileHash { text += "FileHash: \(fileHash.nix32)\n" }
        if let fileSize { text += "FileSize: \(fileSize)\n" }
        text += "NarHash: \(narHash.nix32)\n"
        text += "NarSize: \(narSize)\n"
        text += "References: \(Self.asSet(references).map(\.baseName).joined(separator: " "))\n"
        if let deriver { text += "Deriver: \(deriver.baseName)\n" }
        for signature in Self.asSet(signatures) { text += "Sig: \(signature)\n" }
        if let ca { text += "CA: \(ca)\n" }
        return text
    }

    /// Equal when Nix would consider them equal: `references` and `signatures` compare as sets.
    public static func == (lhs: NarInfo, rhs: NarInfo) -> Bool {
        lhs.storePath == rhs.storePath && lhs.url == rhs.url && lhs.compression == rhs.compression
            && lhs.fileHash == rhs.fileHash && lhs.fileSize == rhs.fileSize
            && lhs.narHash == rhs.narHash && lhs.narSize == rhs.narSize
            && asSet(lhs.references) == asSet(rhs.references) && lhs.deriver == rhs.deriver
            && asSet(lhs.signatures) == asSet(rhs.signatures) && lhs.ca == rhs.ca
    }

    /// The text that `Sig:` signatures sign (see `pathFingerprint`).
    public func fingerprint(in storeDirectory: StoreDirectory) -> String {
        pathFingerprint(storeDirectory: storeDirectory, path: storePath, narHash: narHash, narSize: narSize, references: references)
    }

    /// The signatures made by one of `trustedKeys` over this path's fingerprint, as Nix checks
    /// them before substituting; empty if none is valid.
    public func signatures(verifiedBy trustedKeys: [PublicKey], in storeDirectory: StoreDirectory) -> [String] {
        let message = fingerprint(in: storeDirectory)
        return Self.asSet(signatures).filter { signature in
            trustedKeys.contains { $0.verify(signature: signature, message: message) }
        }
    }

    /// Bytewise order without duplicates: what iterating Nix's std::set gives.
    static func asSet(_ paths: [StorePath]) -> [StorePath] {
        var sorted = paths.sorted()
        sorted.removeConsecutiveDuplicates()
        return sorted
    }

    static func asSet(_ strings: [String]) -> [String] {
        var sorted = strings.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        sorted.removeConsecutiveDuplicates()
        return sorted
    }
}

/// The text a store path's signature covers, as Nix's `ValidPathInfo::fingerprint`:
/// `1;<store path>;sha256:<nix32 narHash>;<narSize>;<full reference paths, sorted, joined by ','>`.
public func pathFingerprint(
    storeDirectory: StoreDirectory,
    path: StorePath,
    narHash: NixHash,
    narSize: UInt64,
    references: [StorePath]
) -> String {
    let referencePaths = NarInfo.asSet(references).map { storeDirectory.fullPath(of: $0) }
    return "1;\(storeDirectory.fullPath(of: path));\(narHash.nix32);\(narSize);\(referencePaths.joined(separator: ","))"
}

extension Array where Element: Equatable {
    fileprivate mutating func removeConsecutiveDuplicates() {
        var kept = 0
        for index in indices where kept == 0 || self[kept - 1] != self[index] {
            self[kept] = self[index]
            kept += 1
        }
        removeLast(count - kept)
    }
}

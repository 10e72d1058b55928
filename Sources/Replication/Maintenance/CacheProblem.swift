import BinaryCache
import NixStore

/// Something wrong with a cache that `narsync verify` reports, naming the store path.
public struct CacheProblem: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        /// The narinfo does not parse.
        case malformed
        /// The NAR object is missing or its size differs from `FileSize`; or, for a path given
        /// to check in a cache that cannot be listed, the narinfo itself is missing.
        case missingNar = "missing NAR"
        /// A reference has no narinfo.
        case missingReference = "missing reference"
        /// No signature by a trusted key.
        case unsigned
        /// The NAR's contents differ from `FileHash`, `NarHash` or `NarSize`.
        case contents
    }

    public var kind: Kind
    /// The narinfo's key (`<hash>.narinfo`).
    public var key: String
    /// The store path, full, when the narinfo names one.
    public var path: String?
    /// What is wrong, for one line of output.
    public var detail: String
    /// For `missingReference`: the hash part of the missing narinfo; for `malformed`: nil.
    public var missingHash: String?

    public init(kind: Kind, key: String, path: String?, detail: String, missingHash: String? = nil) {
        self.kind = kind
        self.key = key
        self.path = path
        self.detail = detail
        self.missingHash = missingHash
    }

    /// `missing NAR: /nix/store/...-hello: nar/... is missing`.
    public var line: String { "\(kind.rawValue): \(path ?? key): \(detail)" }
}

/// What `narsync verify` found.
public struct CacheReport: Sendable {
    public var narInfos: Int = 0
    public var narObjects: Int = 0
    /// Bytes of the NAR objects the narinfos name.
    public var narBytes: UInt64 = 0
    public var problems: [CacheProblem] = []
    /// NARs no narinfo names: left by failed or concurrent uploads, or by removed narinfos.
    public var orphanedNars: [StoredObject] = []
    public var incompleteUploads: [IncompleteUpload] = []
    /// Contents checks skipped (a compression narsync cannot decompress), one line each.
    public var notChecked: [String] = []
    /// The narinfos read, for a repair or a gc to work on.
    public var entries: [CachedNarInfo] = []

    public init() {}

    public var isHealthy: Bool { problems.isEmpty }

    public func count(_ kind: CacheProblem.Kind) -> Int { problems.filter { $0.kind == kind }.count }
}

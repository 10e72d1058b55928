/// A SHA-256 hash as Nix writes it in its several forms.
///
/// - `sha256:<base16>`: the `hash` column of Nix's database.
/// - `sha256:<nix32>`: `NarHash` and `FileHash` in narinfo files, signature fingerprints.
/// - `sha256-<base64>`: SRI, printed by `nix path-info --json` and `nix hash`.
///
/// Nix 2.8 supports other algorithms for fixed-output derivations, but everything narsync reads
/// and writes (NAR hashes, file hashes) is SHA-256, so other algorithms are rejected as such.
public struct NixHash: Hashable, Sendable, CustomStringConvertible {
    public let digest: SHA256Digest

    public init(_ digest: SHA256Digest) { self.digest = digest }

    /// `sha256:<base16>`, as the Nix database stores it.
    public var base16: String { "sha256:\(digest.hex)" }
    /// `sha256:<nix32>`, as narinfo files and signatures use it.
    public var nix32: String { "sha256:\(NixBase32.encode(digest.bytes))" }
    /// `sha256-<base64>`, Subresource Integrity form.
    public var sri: String { "sha256-\(NixBase64.encode(digest.bytes))" }
    /// The bare nix32 digits, as in cache object names.
    public var nix32Digits: String { NixBase32.encode(digest.bytes) }

    public var description: String { nix32 }

    /// Parses any of Nix's prefixed forms: `sha256:` followed by base16 (64 digits), nix32
    /// (52 digits) or base64 (44 characters), or SRI `sha256-<base64>`.
    public init(parsing text: String) throws {
        if text.hasPrefix("sha256-") {
            guard let bytes = Self.decodeBase64(text.dropFirst(7)) else { throw NixHashError.malformed(text) }
            self.init(SHA256Digest(bytes: bytes))
            return
        }
        guard text.hasPrefix("sha256:") else {
            let algorithm = text.split(whereSeparator: { $0 == ":" || $0 == "-" }).first.map(String.init) ?? ""
            throw ["md5", "sha1", "sha512"].contains(algorithm)
                ? NixHashError.unsupportedAlgorithm(text) : NixHashError.malformed(text)
        }
        let digits = text.dropFirst(7)
        let bytes: [UInt8]? = switch digits.utf8.count {
        case 64: Self.decodeBase16(digits)
        case 52: NixBase32.decode(digits, byteCount: 32)
        case 44: Self.decodeBase64(digits)
        default: nil
        }
        guard let bytes else { throw NixHashError.malformed(text) }
        self.init(SHA256Digest(bytes: bytes))
    }

    private static func decodeBase16(_ text: Substring) -> [UInt8]? {
        var bytes = [UInt8]()
        bytes.reserveCapacity(32)
        var high: UInt8?
        for character in text.utf8 {
            let value: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = character - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let pending = high {
                bytes.append(pending << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return bytes.count == 32 ? bytes : nil
    }

    private static func decodeBase64(_ text: Substring) -> [UInt8]? {
        guard let bytes = NixBase64.decode(text), bytes.count == 32 else { return nil }
        return bytes
    }
}

public enum NixHashError: Error, CustomStringConvertible, Equatable {
    case malformed(String)
    case unsupportedAlgorithm(String)

    public var description: String {
        switch self {
        case .malformed(let text):
            "'\(text.debugQuoted)' is not a SHA-256 hash in a form Nix writes (sha256:<base16|nix32|base64> or sha256-<base64>)"
        case .unsupportedAlgorithm(let text):
            "'\(text.debugQuoted)' is not a SHA-256 hash; narsync handles NAR and file hashes, which Nix always makes with SHA-256"
        }
    }
}

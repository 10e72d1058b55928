/// The directory of a Nix store, `/nix/store` unless configured otherwise.
///
/// It is part of every store path's identity (it is hashed into the path), so a cache built for
/// one store directory is useless for another; it is a setting, never guessed.
public struct StoreDirectory: Hashable, Sendable, CustomStringConvertible {
    public let path: String

    public static let standard = StoreDirectory(unchecked: "/nix/store")

    /// - Throws: `StorePathError.invalidStoreDirectory` unless `path` is absolute, without a
    ///   trailing slash and without `.` or `..` components.
    public init(_ path: String) throws {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard path.hasPrefix("/"), path.count > 1, !path.hasSuffix("/"),
              !components.dropFirst().contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
        else { throw StorePathError.invalidStoreDirectory(path) }
        self.path = path
    }

    private init(unchecked path: String) { self.path = path }

    public var description: String { path }

    /// Parses a full store path such as `/nix/store/<hash>-<name>` in this directory.
    public func parsePath(_ text: String) throws -> StorePath {
        let prefix = path + "/"
        guard text.hasPrefix(prefix) else { throw StorePathError.notInStore(text, storeDirectory: path) }
        return try StorePath(baseName: String(text.dropFirst(prefix.count)), fullPathForErrors: text)
    }

    /// The full path of `storePath` in this store directory.
    public func fullPath(of storePath: StorePath) -> String {
        "\(path)/\(storePath.baseName)"
    }
}

/// A store path's base name: `<32 nix32 characters>-<name>`, valid by Nix's rules
/// (`StorePath::StorePath` and `checkName` in Nix 2.8's libstore/path.cc).
///
/// Every store path narsync handles, from the database, the command line, the hook socket or a
/// spool file, becomes a `StorePath` before it is used; that is what keeps slashes, shell
/// metacharacters and newlines out of file names and object keys. (A name such as `..` is
/// allowed, as in Nix 2.8: behind the hash and dash it is an ordinary file name.) The one rule
/// stricter than Nix's is the dash after the hash, which Nix never omits but does not check.
public struct StorePath: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// `<hash>-<name>`.
    public let baseName: String

    public static let hashLength = 32
    /// Nix's limit on the name part (store paths must fit in a file name).
    public static let maximumNameLength = 211

    /// Parses a base name such as `00rn9ycyln9km24xqsq6y3bd5njkazsv-dep`.
    public init(baseName: String) throws {
        try self.init(baseName: baseName, fullPathForErrors: baseName)
    }

    init(baseName: String, fullPathForErrors input: String) throws {
        let bytes = Array(baseName.utf8)
        guard bytes.count > Self.hashLength + 1, bytes[Self.hashLength] == UInt8(ascii: "-") else {
            throw StorePathError.malformed(input, reason: "expected <32-character hash>-<name>")
        }
        guard bytes[..<Self.hashLength].allSatisfy(NixBase32.isDigit) else {
            throw StorePathError.malformed(input, reason: "the hash part is not nix32")
        }
        let name = bytes[(Self.hashLength + 1)...]
        guard name.count <= Self.maximumNameLength else {
            throw StorePathError.malformed(input, reason: "the name is longer than \(Self.maximumNameLength) characters")
        }
        guard name.allSatisfy(Self.isNameCharacter) else {
            throw StorePathError.malformed(input, reason: "the name may contain only letters, digits and + - . _ ? =")
        }
        self.baseName = baseName
    }

    /// The 32-character nix32 hash part: the name of the path's narinfo in a cache.
    public var hashPart: Substring { baseName.prefix(Self.hashLength) }

    /// The name after the hash, e.g. `hello-2.12`.
    public var name: Substring { baseName.dropFirst(Self.hashLength + 1) }

    /// Whether this is a store derivation (`.drv`).
    public var isDerivation: Bool { baseName.hasSuffix(".drv") }

    public var description: String { baseName }

    public static func < (lhs: StorePath, rhs: StorePath) -> Bool {
        lhs.baseName.utf8.lexicographicallyPrecedes(rhs.baseName.utf8)
    }

    private static func isNameCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
             UInt8(ascii: "?"), UInt8(ascii: "="):
            true
        default:
            false
        }
    }
}

public enum StorePathError: Error, CustomStringConvertible, Equatable {
    case malformed(String, reason: String)
    case notInStore(String, storeDirectory: String)
    case invalidStoreDirectory(String)

    public var description: String {
        switch self {
        case .malformed(let input, let reason):
            "'\(input.debugQuoted)' is not a valid store path: \(reason)"
        case .notInStore(let input, let directory):
            "'\(input.debugQuoted)' is not a store path: it is not directly under the store directory \(directory.debugQuoted)"
        case .invalidStoreDirectory(let input):
            "'\(input.debugQuoted)' is not a usable store directory: it must be an absolute path without '.', '..' or a trailing slash"
        }
    }
}

extension String {
    /// The string with control characters escaped, so that a hostile input cannot forge log lines.
    public var debugQuoted: String {
        var out = ""
        for scalar in unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

import CSodium
import Glibc
import SystemSupport

/// A binary cache signing key, `<name>:<base64 of libsodium's 64-byte ed25519 secret key>`,
/// as `nix-store --generate-binary-cache-key` writes it and Nix's `secret-key-files` reads it.
///
/// The key bytes never leave this type except through `serialized`: `description`, `dump`
/// and every error show the name only.
public struct SecretKey: Sendable, CustomStringConvertible, CustomReflectable {
    public let name: String
    /// libsodium's layout: the 32-byte seed, then the 32-byte public key.
    private let bytes: [UInt8]

    /// Reads a secret key file, refusing one that group or others may access, as ssh does.
    /// - Throws: `SigningKeyError`, naming the file and never its contents.
    public init(contentsOfFile path: String) throws {
        let text = try Self.readPrivateFile(path)
        try self.init(parsing: text, source: path)
    }

    /// Parses the contents of a secret key file; surrounding whitespace is ignored.
    /// - Parameter source: the file the text came from, for error messages.
    public init(parsing text: String, source: String) throws {
        let malformed = { SigningKeyError.malformedSecretKey(source: source, reason: $0) }
        let (name, bytes) = try parseKey(text, malformed: malformed)
        guard bytes.count == Int(crypto_sign_SECRETKEYBYTES) else {
            let hint = bytes.count == Int(crypto_sign_PUBLICKEYBYTES) ? " (is it the public key?)" : ""
            throw malformed("it holds \(bytes.count) bytes where an ed25519 secret key has \(crypto_sign_SECRETKEYBYTES)\(hint)")
        }
        // libsodium signs with the public half stored in the key; if it does not belong to the
        // seed, every signature would fail verification far from here.
        var derivedPublic = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var derivedSecret = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        requireSodium()
        crypto_sign_seed_keypair(&derivedPublic, &derivedSecret, bytes)
        guard derivedSecret == bytes else {
            throw malformed("its public half does not belong to its secret half")
        }
        self.init(name: name, bytes: bytes)
    }

    private init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }

    /// A new random key pair named `name` (by convention the cache's host name plus `-1`).
    public static func generate(name: String) throws -> SecretKey {
        try validateKeyName(name)
        requireSodium()
        var publicBytes = [UInt8](repeating: 0, count: Int(crypto_sign_PUBLICKEYBYTES))
        var secretBytes = [UInt8](repeating: 0, count: Int(crypto_sign_SECRETKEYBYTES))
        guard crypto_sign_keypair(&publicBytes, &secretBytes) == 0 else { throw SigningKeyError.generationFailed }
        return SecretKey(name: name, bytes: secretBytes)
    }

    public var publicKey: PublicKey {
        PublicKey(name: name, bytes: Array(bytes[Int(crypto_sign_SECRETKEYBYTES - crypto_sign_PUBLICKEYBYTES)...]))
    }

    /// The detached ed25519 signature of `message`, as a `Sig:` value: `<name>:<base64>`.
    /// Ed25519 is deterministic: Nix signing the same message with the same key gives the same string.
    public func sign(_ message: String) -> String {
        requireSodium()
        var signature = [UInt8](repeating: 0, count: Int(crypto_sign_BYTES))
        let messageBytes = Array(message.utf8)
        crypto_sign_detached(&signature, nil, messageBytes, UInt64(messageBytes.count), bytes)
        return "\(name):\(NixBase64.encode(signature))"
    }

    /// The secret key file's contents, `<name>:<base64>`, without a newline as Nix writes it.
    public var serialized: String { "\(name):\(NixBase64.encode(bytes))" }

    public var description: String { "SecretKey(\(name), <redacted>)" }

    public var customMirror: Mirror { Mirror(self, children: ["name": name]) }

    /// The contents of a small file that only its owner may access.
    private static func readPrivateFile(_ path: String) throws -> String {
        let file = try FileDescriptor(path: path, flags: O_RDONLY | O_NOCTTY)
        var info = stat()
        guard fstat(file.rawValue, &info) == 0 else { throw SystemError("cannot stat", path) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw SigningKeyError.malformedSecretKey(source: path, reason: "it is not a regular file")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw SigningKeyError.secretKeyFileTooOpen(path: path, mode: UInt32(info.st_mode & 0o7777))
        }
        let limit = 4096
        var contents = [UInt8](repeating: 0, count: limit + 1)
        var count = 0
        while count <= limit {
            let received = try contents.withUnsafeMutableBytes {
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[count...]), path: path)
            }
            if received == 0 { break }
            count += received
        }
        guard count <= limit else {
            throw SigningKeyError.malformedSecretKey(source: path, reason: "it is larger than \(limit) bytes, too large for a key")
        }
        return String(decoding: contents[..<count], as: UTF8.self)
    }
}

/// A public key, `<name>:<base64 of 32 bytes>`, as in Nix's `trusted-public-keys`.
public struct PublicKey: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    private let bytes: [UInt8]

    fileprivate init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }

    /// Parses `<name>:<base64>`; surrounding whitespace is ignored.
    /// - Throws: `SigningKeyError`; the message names the key but never repeats the text,
    ///   which might be a secret key given by mistake.
    public init(parsing text: String) throws {
        let (name, bytes) = try parseKey(text) { SigningKeyError.malformedPublicKey(name: nil, reason: $0) }
        guard bytes.count == Int(crypto_sign_PUBLICKEYBYTES) else {
            throw SigningKeyError.malformedPublicKey(name: name, reason: "it holds \(bytes.count) bytes where an ed25519 public key has \(crypto_sign_PUBLICKEYBYTES)")
        }
        self.init(name: name, bytes: bytes)
    }

    /// Whether `signature` (`<name>:<base64>`, a `Sig:` value) is this key's signature of
    /// `message`. False for another key's name or a malformed signature, as in Nix.
    public func verify(signature: String, message: String) -> Bool {
        guard let colon = signature.firstIndex(of: ":"), signature[..<colon] == name,
              let signatureBytes = NixBase64.decode(signature[signature.index(after: colon)...]),
              signatureBytes.count == Int(crypto_sign_BYTES)
        else { return false }
        requireSodium()
        let messageBytes = Array(message.utf8)
        return crypto_sign_verify_detached(signatureBytes, messageBytes, UInt64(messageBytes.count), bytes) == 0
    }

    /// `<name>:<base64>`, the public key file's contents and a `trusted-public-keys` entry.
    public var serialized: String { "\(name):\(NixBase64.encode(bytes))" }

    public var description: String { serialized }
}

/// A key that cannot be read, parsed or made. Messages name the file or key, never key bytes.
public enum SigningKeyError: Error, CustomStringConvertible, Equatable, Sendable {
    case secretKeyFileTooOpen(path: String, mode: UInt32)
    /// `source` is the file (or whatever the caller named) the secret key came from.
    case malformedSecretKey(source: String, reason: String)
    /// `name` is nil when the text has no recognisable name.
    case malformedPublicKey(name: String?, reason: String)
    case invalidName(String)
    case generationFailed

    public var description: String {
        switch self {
        case .secretKeyFileTooOpen(let path, let mode):
            "permissions 0\(String(mode, radix: 8)) for secret key file '\(path.debugQuoted)' are too open: "
                + "it must not be accessible by group or others; run: chmod 600 '\(path.debugQuoted)'"
        case .malformedSecretKey(let source, let reason):
            "secret key '\(source.debugQuoted)' is not valid: \(reason); expected <name>:<base64>, as written by narsync keygen or nix-store --generate-binary-cache-key"
        case .malformedPublicKey(let name, let reason):
            "public key \(name.map { "'\($0.debugQuoted)' " } ?? "")is not valid: \(reason); expected <name>:<base64>, as in trusted-public-keys"
        case .invalidName(let name):
            "'\(name.debugQuoted)' cannot name a key: it must be non-empty, without ':' or whitespace (e.g. cache.example.org-1)"
        case .generationFailed:
            "libsodium failed to generate a key pair"
        }
    }
}

/// Splits `<name>:<base64>` as Nix's `Key::Key` does, at the first colon.
private func parseKey(_ text: String, malformed: (String) -> SigningKeyError) throws -> (name: String, bytes: [UInt8]) {
    let trimmed = text.trimmingWhitespace
    guard let colon = trimmed.firstIndex(of: ":"), colon != trimmed.startIndex, trimmed.index(after: colon) != trimmed.endIndex else {
        throw malformed("there is no '<name>:' before the key")
    }
    guard let bytes = NixBase64.decode(trimmed[trimmed.index(after: colon)...]) else {
        throw malformed("the part after the name is not base64")
    }
    return (String(trimmed[..<colon]), bytes)
}

private func validateKeyName(_ name: String) throws {
    guard !name.isEmpty, !name.unicodeScalars.contains(where: { $0 == ":" || $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f })
    else { throw SigningKeyError.invalidName(name) }
}

/// sodium_init must run before any other libsodium call; a global's initialiser runs once,
/// thread-safely, on first use.
private let sodiumIsReady: Bool = sodium_init() >= 0

private func requireSodium() {
    precondition(sodiumIsReady, "libsodium could not be initialised")
}

extension String {
    var trimmingWhitespace: Substring {
        let isWhitespace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = firstIndex(where: { !isWhitespace($0) }), let last = lastIndex(where: { !isWhitespace($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}

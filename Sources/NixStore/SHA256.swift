import CCrypto

/// libcrypto, initialised before its first use without its clean-up at exit(3). That clean-up
/// frees libcrypto's global state while other threads may still hash or sign with it: narsync
/// exiting past its SIGTERM grace period, with uploads in flight, crashed (SIGSEGV) in the curl
/// thread signing a request (found by `reliability/sanitizers thread`). The process is ending;
/// nothing is lost by leaving libcrypto as it is.
public enum CryptoLibrary {
    /// Evaluate before anything (curl included) calls into OpenSSL: only the first
    /// initialisation decides whether the clean-up is registered.
    public static let initialize: Void = {
        _ = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_ATEXIT), nil)
    }()
}

/// Incremental SHA-256 through libcrypto, which uses the CPU's SHA extensions where present.
///
/// A value type with reference semantics would be a trap here, so this is a class: one hasher,
/// one stream. Not thread-safe.
public final class SHA256Hasher {
    private let context: OpaquePointer

    public init() {
        CryptoLibrary.initialize
        guard let context = EVP_MD_CTX_new() else { fatalError("out of memory allocating an EVP_MD_CTX") }
        self.context = context
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
    }

    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything passed to `update`; the hasher must not be used afterwards.
    public func finalize() -> SHA256Digest {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return SHA256Digest(bytes: digest)
    }

    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: some Sequence<UInt8>) -> SHA256Digest {
        let hasher = SHA256Hasher()
        hasher.update(Array(bytes))
        return hasher.finalize()
    }
}

/// A SHA-256 digest: 32 bytes.
public struct SHA256Digest: Hashable, Sendable {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a SHA-256 digest has 32 bytes, not \(bytes.count)")
        self.bytes = bytes
    }

    /// Lowercase hexadecimal, as `sha256:` hashes in Nix's database and S3's payload hashes.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Nix's base-32 encoding ("nix32"), used in store paths and `sha256:` hashes of narinfo files.
///
/// It is not RFC 4648: the alphabet omits e, o, u and t (to avoid words), and the digits are
/// produced from the *last* character to the first over the little-endian bit string, exactly as
/// `printHash32` in Nix's libutil/hash.cc does. Any other order gives different strings.
public enum NixBase32 {
    public static let alphabet = Array("0123456789abcdfghijklmnpqrsvwxyz".utf8)

    private static let digitValues: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (value, character) in alphabet.enumerated() { table[Int(character)] = Int8(value) }
        return table
    }()

    /// The length of the encoding of `byteCount` bytes (52 for SHA-256, 32 for a store path hash,
    /// 0 for none, as `encode` gives).
    public static func encodedLength(byteCount: Int) -> Int {
        (byteCount * 8 + 4) / 5
    }

    public static func encode(_ bytes: [UInt8]) -> String {
        guard !bytes.isEmpty else { return "" }
        let length = encodedLength(byteCount: bytes.count)
        var out = [UInt8]()
        out.reserveCapacity(length)
        for n in stride(from: length - 1, through: 0, by: -1) {
            let bit = n * 5
            let index = bit / 8
            let shift = bit % 8
            var value = Int(bytes[index]) >> shift
            if index + 1 < bytes.count { value |= Int(bytes[index + 1]) << (8 - shift) }
            out.append(alphabet[value & 0x1f])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `text` into `byteCount` bytes; nil if a character is outside the alphabet, the
    /// length is wrong, or the top bits that cannot belong to `byteCount` bytes are set.
    public static func decode(_ text: some StringProtocol, byteCount: Int) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard byteCount >= 0, characters.count == encodedLength(byteCount: byteCount) else { return nil }
        var bytes = [UInt8](repeating: 0, count: byteCount)
        for n in 0..<characters.count {
            let digit = Int(digitValues[Int(characters[characters.count - n - 1])])
            guard digit >= 0 else { return nil }
            let bit = n * 5
            let index = bit / 8
            let shift = bit % 8
            bytes[index] |= UInt8(truncatingIfNeeded: digit << shift)
            let carry = digit >> (8 - shift)
            if index + 1 < byteCount {
                bytes[index + 1] |= UInt8(truncatingIfNeeded: carry)
            } else if carry != 0 {
                return nil
            }
        }
        return bytes
    }

    /// Whether `character` (a UTF-8 byte) is in the alphabet.
    public static func isDigit(_ character: UInt8) -> Bool {
        digitValues[Int(character)] >= 0
    }
}

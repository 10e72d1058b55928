import FuzzSupport
import NixStore

// Hashes in every form Nix writes (sha256:base16, sha256:nix32, sha256:base64, SRI), and nix32
// of any length: what parses re-encodes to itself (nix32 and base16 are canonical) and every
// form of a parsed hash parses to the same hash.

fuzz { bytes in
    // The first byte chooses a byte count for bare nix32, the rest is the text.
    if let count = bytes.first {
        let digits = String(decoding: bytes.dropFirst(), as: UTF8.self)
        let byteCount = Int(count % 65)
        if let decoded = NixBase32.decode(digits, byteCount: byteCount) {
            require(decoded.count == byteCount, "nix32 decoded to \(decoded.count) bytes, not \(byteCount)")
            require(NixBase32.encode(decoded) == digits, "nix32 \(digits.debugDescription) re-encodes as \(NixBase32.encode(decoded))")
        }
    }

    let text = String(decoding: bytes, as: UTF8.self)
    let hash: NixHash
    do {
        hash = try NixHash(parsing: text)
    } catch {
        requirePrintable("\(error)", "the error")
        return
    }
    for form in [hash.base16, hash.nix32, hash.sri, "sha256:" + hash.sri.dropFirst(7)] {
        require((try? NixHash(parsing: form)) == hash, "\(form) does not parse back to the hash of \(text.debugDescription)")
    }
    let digits = text.dropFirst(7)
    if text.hasPrefix("sha256:"), digits.utf8.count == 52 {
        require(hash.nix32 == text, "nix32 \(text.debugDescription) parsed but is not canonical: \(hash.nix32)")
    }
    if text.hasPrefix("sha256:"), digits.utf8.count == 64 {
        require(hash.base16 == text.lowercased(), "base16 \(text.debugDescription) parsed as \(hash.base16)")
    }
}

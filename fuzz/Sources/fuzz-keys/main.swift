import FuzzSupport
import NixStore

// Key files and trusted-public-keys entries: parsed as Nix reads them, or refused with a
// message that never repeats the key material.

fuzz { bytes in
    let text = String(decoding: bytes, as: UTF8.self)
    // What follows the first colon: the part that may be a secret.
    let material = text.firstIndex(of: ":").map { String(text[text.index(after: $0)...]).trimmingCharacters() } ?? ""

    do {
        let secret = try SecretKey(parsing: text, source: "fuzz.sec")
        let again = try SecretKey(parsing: secret.serialized, source: "serialized")
        require(again.serialized == secret.serialized && again.name == secret.name, "a serialized secret key reads back differently")
        require(!"\(secret)".contains(secret.serialized), "the secret key's description shows its bytes")
        let message = "1;/nix/store/00000000000000000000000000000000-x;sha256:0;1;"
        let signature = secret.sign(message)
        require(secret.publicKey.verify(signature: signature, message: message), "a signature does not verify with its public key")
        require(!secret.publicKey.verify(signature: signature, message: message + "x"), "a signature verifies another message")
    } catch {
        requirePrintable("\(error)", "the secret key error")
        requireNoKey(in: "\(error)", material, text)
    }

    do {
        let key = try PublicKey(parsing: text)
        let again = try PublicKey(parsing: key.serialized)
        require(again == key, "a serialized public key reads back differently")
        // Whatever the input holds as a signature verifies false or true, without crashing.
        _ = key.verify(signature: text, message: text)
    } catch {
        requirePrintable("\(error)", "the public key error")
        requireNoKey(in: "\(error)", material, text)
    }
}

/// An error may name the key (the text before the colon), never show what follows it. Only
/// base64 runs long enough to be key material are looked for: a short one, or one with other
/// characters, may be a piece of the message's own words.
func requireNoKey(in message: String, _ material: String, _ text: String) {
    let base64 = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    guard material.count >= 16, material.allSatisfy(base64.contains) else { return }
    let name = text.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
    require(!message.contains(material) || name.contains(material), "the error repeats the key: \(message)")
}

extension String {
    func trimmingCharacters() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

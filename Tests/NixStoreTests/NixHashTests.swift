import Testing
@testable import NixStore
import TestSupport

@Suite struct NixHashTests {
    @Test func printsAndParsesEveryFormNixPrints() throws {
        let nix = try NixEnvironment()
        let digest = SHA256Hasher.hash(Array("narsync".utf8))
        let hex = digest.hex
        let nix32 = try nix.run("nix", ["hash", "to-base32", "--type", "sha256", hex]).trimmedOutput
        let base64 = try nix.run("nix", ["hash", "to-base64", "--type", "sha256", hex]).trimmedOutput
        let sri = try nix.run("nix", ["hash", "to-sri", "--type", "sha256", hex]).trimmedOutput

        let hash = NixHash(digest)
        #expect(hash.base16 == "sha256:\(hex)")
        #expect(hash.nix32 == "sha256:\(nix32)")
        #expect(hash.nix32Digits == nix32)
        #expect(hash.sri == sri)
        for text in ["sha256:\(hex)", "sha256:\(hex.uppercased())", "sha256:\(nix32)", "sha256:\(base64)", sri] {
            #expect(try NixHash(parsing: text) == hash, "\(text)")
        }
    }

    @Test func readsSRIWithoutPaddingAsNixDoes() throws {
        // Nix's base64 decoder stops at '=' and does not require it.
        let hash = NixHash(SHA256Hasher.hash(Array("x".utf8)))
        let unpadded = String(hash.sri.drop(while: { $0 != "-" }).dropFirst().prefix { $0 != "=" })
        #expect(try NixHash(parsing: "sha256-\(unpadded)") == hash)
    }

    @Test func refusesOtherAlgorithmsAndMalformedHashes() {
        #expect(throws: NixHashError.unsupportedAlgorithm("md5:d41d8cd98f00b204e9800998ecf8427e")) {
            try NixHash(parsing: "md5:d41d8cd98f00b204e9800998ecf8427e")
        }
        for text in ["", "sha256:", "sha256:xyz", "1fs8xspqaxw0p5r4wz0lz3pqd9sdvhirmcriqbxcmg8vr89835ya",
                     "sha256:" + String(repeating: "g", count: 64), "sha256-AAAA", "sha256:" + String(repeating: "e", count: 52)] {
            #expect(throws: NixHashError.self, "\(text)") { try NixHash(parsing: text) }
        }
    }

    /// Found by fuzz/run hashes: the message repeated a hostile hash's control characters,
    /// which a narinfo's FileHash carries into the log.
    @Test func errorsEscapeControlCharacters() {
        for text in ["sha256:\u{1b}[31mred\rforged", "md5:\u{1b}[2J"] {
            let error = #expect(throws: NixHashError.self) { try NixHash(parsing: text) }
            let description = error.map { "\($0)" } ?? ""
            #expect(!description.unicodeScalars.contains { $0.value < 0x20 }, "\(description.debugDescription)")
            #expect(description.contains("\\u{1b}"))
        }
    }
}

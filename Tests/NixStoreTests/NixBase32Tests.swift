import Testing
@testable import NixStore
import TestSupport

@Suite struct NixBase32Tests {
    /// Random digests: `count` of them, `byteCount` bytes each, and their base16 text.
    private func randomDigests(count: Int, byteCount: Int) -> [(bytes: [UInt8], hex: String)] {
        (0..<count).map { _ in
            let bytes = (0..<byteCount).map { _ in UInt8.random(in: 0...255) }
            return (bytes, bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined())
        }
    }

    @Test func encodesSHA256DigestsAsNixPrintsThem() throws {
        let nix = try NixEnvironment()
        let digests = randomDigests(count: 8, byteCount: 32) + [([UInt8](repeating: 0, count: 32), String(repeating: "0", count: 64)),
                                                                ([UInt8](repeating: 0xff, count: 32), String(repeating: "f", count: 64))]
        let hexes = digests.map(\.hex)
        let byNixCommand = try nix.run("nix", ["hash", "to-base32", "--type", "sha256"] + hexes).trimmedOutput.split(separator: "\n")
        let byNixHash = try nix.run("nix-hash", ["--type", "sha256", "--to-base32"] + hexes).trimmedOutput.split(separator: "\n")
        #expect(byNixCommand.count == digests.count)
        for (index, digest) in digests.enumerated() {
            let ours = NixBase32.encode(digest.bytes)
            #expect(ours == byNixCommand[index])
            #expect(ours == byNixHash[index])
            #expect(NixBase32.decode(ours, byteCount: 32) == digest.bytes)
        }
    }

    @Test func decodesWhatNixConvertsBackToTheSameDigest() throws {
        let nix = try NixEnvironment()
        let digests = randomDigests(count: 6, byteCount: 32)
        let ours = digests.map { NixBase32.encode($0.bytes) }
        let backToHex = try nix.run("nix", ["hash", "to-base16", "--type", "sha256"] + ours).trimmedOutput.split(separator: "\n")
        #expect(backToHex.map(String.init) == digests.map(\.hex))
    }

    @Test func encodesTwentyByteStorePathHashesAsNixDoes() throws {
        // Store path hashes are 20 bytes, 32 nix32 characters: the same length as a SHA-1.
        let nix = try NixEnvironment()
        let digests = randomDigests(count: 6, byteCount: 20)
        let byNix = try nix.run("nix", ["hash", "to-base32", "--type", "sha1"] + digests.map(\.hex)).trimmedOutput.split(separator: "\n")
        for (index, digest) in digests.enumerated() {
            let ours = NixBase32.encode(digest.bytes)
            #expect(ours.count == StorePath.hashLength)
            #expect(ours == byNix[index])
            #expect(NixBase32.decode(ours, byteCount: 20) == digest.bytes)
        }
    }

    @Test func refusesTextThatIsNotNix32() {
        let valid = NixBase32.encode([UInt8](repeating: 0x5a, count: 32))
        #expect(NixBase32.decode(valid, byteCount: 32) != nil)
        // e, o, u and t are not in the alphabet; nor is upper case.
        for letter in ["e", "o", "u", "t", "A", "-"] {
            #expect(NixBase32.decode(letter + valid.dropFirst(), byteCount: 32) == nil, "accepted '\(letter)'")
        }
        #expect(NixBase32.decode(valid.dropFirst(), byteCount: 32) == nil)
        #expect(NixBase32.decode(valid + "0", byteCount: 32) == nil)
        #expect(NixBase32.encode([]) == "")
    }

    /// Found by fuzz/run hashes: decoding for zero bytes indexed past an empty array (a crash),
    /// since the length formula gave one digit for no bytes.
    @Test func decodesEveryByteCountAsEncodeWritesIt() {
        #expect(NixBase32.decode("s", byteCount: 0) == nil)
        #expect(NixBase32.decode("", byteCount: 0) == [])
        #expect(NixBase32.decode("", byteCount: -1) == nil)
        for count in 1...40 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = NixBase32.encode(bytes)
            #expect(text.count == NixBase32.encodedLength(byteCount: count))
            #expect(NixBase32.decode(text, byteCount: count) == bytes, "\(count) bytes")
        }
    }

    @Test func refusesDigitsBeyondTheLastByteAsNixDoes() throws {
        // 52 digits carry 260 bits for 256: the first digit holds only the top bit, so it is 0 or 1.
        let nix = try NixEnvironment()
        let valid = NixBase32.encode([UInt8](repeating: 0x5a, count: 32))
        for first in ["0", "1", "2", "z"] {
            let text = first + valid.dropFirst()
            let nixAccepts = try nix.attempt("nix", ["hash", "to-base16", "--type", "sha256", text]).status == 0
            #expect((NixBase32.decode(text, byteCount: 32) != nil) == nixAccepts, "\(text)")
            #expect(nixAccepts == (first == "0" || first == "1"))
        }
    }
}

extension String {
    func leftPadded(to length: Int) -> String {
        String(repeating: "0", count: max(0, length - count)) + self
    }
}

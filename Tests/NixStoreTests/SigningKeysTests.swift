import Foundation
import Testing
@testable import NixStore
import TestSupport

@Suite struct SigningKeysTests {
    private let store = StoreDirectory.standard

    /// The fingerprint of a store path from what narsync reads itself: its files and the
    /// references in Nix's database.
    private func fingerprint(of storePath: String, in nix: NixEnvironment) throws -> String {
        let nar = try NarWriter(root: nix.physicalPath(of: storePath)).hashAndSize()
        let references = try nix.pathInfo(storePath).references.map(store.parsePath)
        return pathFingerprint(storeDirectory: store, path: try store.parsePath(storePath), narHash: nar.narHash, narSize: nar.narSize, references: references)
    }

    /// Whether `nix store verify` accepts `storePath` with only `publicKey` trusted, one signature needed.
    private func nixAccepts(_ storePath: String, trusting publicKey: String, in nix: NixEnvironment) throws -> Bool {
        try nix.attempt("nix", ["store", "verify", "--store", nix.storeRoot, "--sigs-needed", "1",
                                "--trusted-public-keys", publicKey, storePath]).status == 0
    }

    /// A file holding `contents` with `mode`.
    private func keyFile(_ contents: String, mode: mode_t = 0o600, in directory: TemporaryDirectory) throws -> String {
        let path = directory.appending("key-\(UUID().uuidString)")
        try contents.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    @Test func nixKeySignsExactlyAsNixDoes() throws {
        let nix = try NixEnvironment()
        let key = try nix.generateKey(name: "cache.example.org-1")
        let secretKey = try SecretKey(contentsOfFile: key.secretKeyFile)
        #expect(secretKey.name == "cache.example.org-1")
        #expect(secretKey.publicKey.serialized == key.publicKey)
        #expect(try PublicKey(parsing: key.publicKey) == secretKey.publicKey)

        let top = try TestClosure.build(in: nix).top
        let ours = secretKey.sign(try fingerprint(of: top, in: nix))
        try nix.run("nix", ["store", "sign", "--store", nix.storeRoot, "--key-file", key.secretKeyFile, top])
        // Ed25519 is deterministic: the same key over the same fingerprint gives the same signature.
        #expect(try nix.pathInfo(top).signatures == [ours])
        #expect(secretKey.publicKey.verify(signature: ours, message: try fingerprint(of: top, in: nix)))
    }

    @Test func nixVerifiesOurSignatureAndRejectsAnotherKeys() throws {
        let nix = try NixEnvironment()
        let key = try nix.generateKey(name: "cache.example.org-1")
        let trustedPublicKey = key.publicKey
        let top = try TestClosure.build(in: nix).top
        let message = try fingerprint(of: top, in: nix)
        #expect(try !nixAccepts(top, trusting: trustedPublicKey, in: nix), "an unsigned path must not pass")

        let ours = try SecretKey(contentsOfFile: key.secretKeyFile).sign(message)
        try nix.setSignatures([ours], of: top)
        #expect(try nixAccepts(top, trusting: trustedPublicKey, in: nix))

        // Same name, different key: both Nix and narsync reject the signature.
        let impostor = try SecretKey.generate(name: "cache.example.org-1")
        let forged = impostor.sign(message)
        try nix.setSignatures([forged], of: top)
        #expect(try !nixAccepts(top, trusting: trustedPublicKey, in: nix))
        let trusted = try PublicKey(parsing: trustedPublicKey)
        #expect(!trusted.verify(signature: forged, message: message))
        #expect(impostor.publicKey.verify(signature: forged, message: message))
    }

    @Test func keyGeneratedByNarsyncIsOneNixSignsAndVerifiesWith() throws {
        let nix = try NixEnvironment()
        let secretKey = try SecretKey.generate(name: "narsync-test-1")
        let secretFile = try keyFile(secretKey.serialized, in: nix.directory)
        let top = try TestClosure.build(in: nix).top
        try nix.run("nix", ["store", "sign", "--store", nix.storeRoot, "--key-file", secretFile, top])
        #expect(try nix.pathInfo(top).signatures == [secretKey.sign(try fingerprint(of: top, in: nix))])
        #expect(try nixAccepts(top, trusting: secretKey.publicKey.serialized, in: nix))
        #expect(try !nixAccepts(top, trusting: SecretKey.generate(name: "narsync-test-1").publicKey.serialized, in: nix))
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o606, 0o610] as [mode_t])
    func refusesSecretKeyFilesOthersCanAccess(mode: mode_t) throws {
        let directory = try TemporaryDirectory()
        let path = try keyFile(try SecretKey.generate(name: "k-1").serialized, mode: mode, in: directory)
        #expect {
            try SecretKey(contentsOfFile: path)
        } throws: { error in
            let message = "\(error)"
            return error as? SigningKeyError == .secretKeyFileTooOpen(path: path, mode: UInt32(mode))
                && message.contains("too open") && message.contains("chmod 600 '\(path)'")
        }
    }

    @Test(arguments: [0o600, 0o400] as [mode_t])
    func acceptsSecretKeyFilesOnlyTheOwnerCanRead(mode: mode_t) throws {
        let directory = try TemporaryDirectory()
        let key = try SecretKey.generate(name: "k-1")
        // A trailing newline, as an editor leaves it, is accepted as Nix accepts it.
        let path = try keyFile(key.serialized + "\n", mode: mode, in: directory)
        #expect(try SecretKey(contentsOfFile: path).publicKey == key.publicKey)
    }

    @Test func malformedKeyFilesAreNamedWithoutTheirContents() throws {
        let directory = try TemporaryDirectory()
        let key = try SecretKey.generate(name: "k-1")
        let secretBase64 = String(key.serialized.dropFirst("k-1:".count))
        let publicBase64 = String(key.publicKey.serialized.dropFirst("k-1:".count))
        var mismatched = Array(NixBase64.decode(secretBase64)!)
        mismatched[40] ^= 1
        let cases: [(contents: String, reason: String)] = [
            ("", "no '<name>:'"),
            (secretBase64, "no '<name>:'"),
            (":" + secretBase64, "no '<name>:'"),
            ("k-1:", "no '<name>:'"),
            ("k-1:*" + secretBase64, "not base64"),
            ("k-1:" + secretBase64.prefix(20), "holds 15 bytes"),
            ("k-1:" + publicBase64, "(is it the public key?)"),
            ("k-1:" + NixBase64.encode(mismatched), "public half does not belong"),
            ("k-1:" + String(repeating: secretBase64, count: 50), "too large"),
        ]
        for (contents, reason) in cases {
            let path = try keyFile(contents, in: directory)
            #expect {
                try SecretKey(contentsOfFile: path)
            } throws: { error in
                let message = "\(error)"
                return message.contains(path) && message.contains(reason)
                    && !message.contains(secretBase64.prefix(12)) && !message.contains(publicBase64.prefix(12))
            }
        }
    }

    @Test func unreadableKeyFilesAreNamed() throws {
        let directory = try TemporaryDirectory()
        for path in [directory.appending("missing"), directory.path] {
            #expect {
                try SecretKey(contentsOfFile: path)
            } throws: { error in
                "\(error)".contains(path)
            }
        }
    }

    @Test func secretKeyNeverShowsItsBytes() throws {
        let key = try SecretKey.generate(name: "k-1")
        let secretBase64 = String(key.serialized.dropFirst("k-1:".count))
        var dumped = ""
        dump(key, to: &dumped)
        for shown in ["\(key)", String(reflecting: key), dumped, "\(SigningKeyError.malformedSecretKey(source: "f", reason: "r"))"] {
            #expect(!shown.contains(secretBase64.prefix(12)), "\(shown)")
        }
        #expect("\(key)".contains("k-1"))
        // A secret key given where a public key belongs is refused without being repeated.
        #expect {
            try PublicKey(parsing: key.serialized)
        } throws: { error in
            !"\(error)".contains(secretBase64.prefix(12)) && "\(error)".contains("k-1")
        }
    }

    @Test func verificationFailsForAnythingButTheKeysOwnSignature() throws {
        let key = try SecretKey.generate(name: "k-1")
        let signature = key.sign("message")
        #expect(signature.hasPrefix("k-1:"))
        #expect(key.publicKey.verify(signature: signature, message: "message"))
        #expect(!key.publicKey.verify(signature: signature, message: "message2"))
        let body = signature.dropFirst("k-1:".count)
        #expect(!key.publicKey.verify(signature: "k-2:" + body, message: "message"))
        for malformed in ["", ":", "k-1", "k-1:", "k-1:" + body.dropFirst(4), "k-1:*" + body, ":" + body] {
            #expect(!key.publicKey.verify(signature: malformed, message: "message"), "\(malformed)")
        }
    }

    @Test func keyNamesMustSurviveTheFileFormat() {
        for name in ["", "a:b", "a b", "a\nb"] {
            #expect(throws: SigningKeyError.invalidName(name)) { try SecretKey.generate(name: name) }
        }
    }

    @Test func publicKeysParseAsNixWritesThem() throws {
        let key = try SecretKey.generate(name: "cache.example.org-1")
        #expect(try PublicKey(parsing: key.publicKey.serialized + "\n") == key.publicKey)
        #expect(key.publicKey.description == key.publicKey.serialized)
        for text in ["", "cache.example.org-1", "cache.example.org-1:", "cache.example.org-1:AAAA", ":AAAA"] {
            #expect(throws: SigningKeyError.self, "\(text)") { try PublicKey(parsing: text) }
        }
    }
}

import Foundation
import NixStore
import Testing
import TestSupport

@Suite struct KeygenCommandTests {
    private func keygen(_ arguments: [String]) throws -> ProcessResult {
        try Subprocess.run(narsyncExecutable, ["keygen"] + arguments)
    }

    private func mode(of path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    @Test func writesAKeyPairNixSignsAndVerifiesWith() throws {
        let nix = try NixEnvironment()
        let secretFile = nix.directory.appending("secret"), publicFile = nix.directory.appending("public")
        let result = try keygen(["cache.example.org-1", secretFile, publicFile])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(mode(of: secretFile) == 0o600)

        let secretKey = try SecretKey(contentsOfFile: secretFile)
        let publicText = try String(contentsOfFile: publicFile, encoding: .utf8)
        #expect(secretKey.name == "cache.example.org-1")
        #expect(try PublicKey(parsing: publicText) == secretKey.publicKey)
        #expect(result.standardOutput.contains(publicText))

        // Nix takes the secret key as its own and trusts what it signs with the public key.
        let top = try TestClosure.build(in: nix).top
        try nix.run("nix", ["store", "sign", "--store", nix.storeRoot, "--key-file", secretFile, top])
        let verify = try nix.attempt("nix", ["store", "verify", "--store", nix.storeRoot, "--sigs-needed", "1",
                                             "--trusted-public-keys", publicText, top])
        #expect(verify.status == 0, "\(verify.standardError)")
    }

    @Test func neverOverwritesAKeyWithoutForce() throws {
        let directory = try TemporaryDirectory()
        let secretFile = directory.appending("secret"), publicFile = directory.appending("public")
        #expect(try keygen(["first-1", secretFile, publicFile]).status == 0)
        let secretBefore = try String(contentsOfFile: secretFile, encoding: .utf8)
        let publicBefore = try String(contentsOfFile: publicFile, encoding: .utf8)

        let refused = try keygen(["second-1", secretFile, publicFile])
        #expect(refused.status != 0)
        #expect(refused.standardError.trimmingCharacters(in: .newlines).split(separator: "\n").count == 1)
        #expect(refused.standardError.contains(secretFile) && refused.standardError.contains("--force"))
        #expect(try String(contentsOfFile: secretFile, encoding: .utf8) == secretBefore)
        #expect(try String(contentsOfFile: publicFile, encoding: .utf8) == publicBefore)

        let forced = try keygen(["second-1", secretFile, publicFile, "--force"])
        #expect(forced.status == 0, "\(forced.standardError)")
        #expect(try SecretKey(contentsOfFile: secretFile).name == "second-1")
        #expect(try String(contentsOfFile: publicFile, encoding: .utf8).hasPrefix("second-1:"))
        #expect(mode(of: secretFile) == 0o600)
    }

    @Test func writesNothingWhenThePublicFileExists() throws {
        let directory = try TemporaryDirectory()
        let secretFile = directory.appending("secret"), publicFile = directory.appending("public")
        try "keep me".write(toFile: publicFile, atomically: true, encoding: .utf8)
        let refused = try keygen(["k-1", secretFile, publicFile])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains(publicFile))
        #expect(!FileManager.default.fileExists(atPath: secretFile))
        #expect(try String(contentsOfFile: publicFile, encoding: .utf8) == "keep me")
    }

    @Test(arguments: ["a:b", "a b", ""])
    func refusesNamesTheKeyFormatCannotHold(name: String) throws {
        let directory = try TemporaryDirectory()
        let result = try keygen([name, directory.appending("secret"), directory.appending("public")])
        #expect(result.status != 0)
        #expect(result.standardError.contains("cannot name a key"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func reportsAnUnwritableDirectoryInOneLine() throws {
        let directory = try TemporaryDirectory()
        let secretFile = directory.appending("missing/secret")
        let result = try keygen(["k-1", secretFile, directory.appending("public")])
        #expect(result.status != 0)
        #expect(result.standardError.trimmingCharacters(in: .newlines) == "Error: cannot write '\(secretFile)': No such file or directory")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }
}

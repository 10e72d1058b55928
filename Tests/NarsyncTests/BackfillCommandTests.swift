import Foundation
import Testing
import TestSupport

/// `narsync backfill` end to end: a real Nix builds, narsync publishes, a real Nix substitutes.
/// The tests taking a `NixVersion` run against each Nix of `NixVersion.tested`: a static entry
/// point makes the suite with that Nix and runs the test.
@Suite struct BackfillCommandTests {
    let nix: NixEnvironment
    let closure: TestClosure
    let key: (secretKeyFile: String, publicKey: String)
    let cache: String

    init() throws { try self.init(nix: .v2_8) }

    init(nix version: NixVersion) throws {
        nix = try NixEnvironment(nix: version)
        closure = try TestClosure.build(in: nix)
        key = try nix.generateKey(name: "narsync-test-1")
        cache = nix.directory.appending("binary-cache")
    }

    private func backfill(_ arguments: [String], to destination: String? = nil) throws -> ProcessResult {
        try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", destination ?? "file://\(cache)", "--key-file", key.secretKeyFile,
            "--store-root", nix.storeRoot,
        ] + arguments, environment: nix.environment)
    }

    @Test(arguments: NixVersion.tested)
    static func aRealNixSubstitutesThePublishedClosureWithOurSignature(nix version: NixVersion) throws {
        try Self(nix: version).aRealNixSubstitutesThePublishedClosureWithOurSignature()
    }

    func aRealNixSubstitutesThePublishedClosureWithOurSignature() throws {
        let result = try backfill([closure.top])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("uploaded 6, already cached 0, failed 0"))

        let fresh = nix.makeStoreRoot("fresh")
        let copy = try nix.substitute([closure.top], from: "file://\(cache)", into: fresh, trustedKey: key.publicKey)
        #expect(copy.status == 0, "\(copy.standardError)")
        #expect(try nix.closure(of: closure.top, storeRoot: fresh) == nix.closure(of: closure.top))
        let verify = try nix.verifyContents(storeRoot: fresh)
        #expect(verify.status == 0 && !verify.standardError.contains("error"), "\(verify.standardError)")

        let cacheInfo = try String(contentsOfFile: "\(cache)/nix-cache-info", encoding: .utf8)
        #expect(cacheInfo == "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n")
    }

    @Test func substitutionFailsWhenAnotherKeyIsTrusted() throws {
        #expect(try backfill([closure.top]).status == 0)
        let other = try nix.generateKey(name: "someone-else-1")
        let copy = try nix.substitute([closure.top], from: "file://\(cache)", into: nix.makeStoreRoot("fresh"), trustedKey: other.publicKey)
        #expect(copy.status != 0)
        #expect(copy.standardError.contains("signature") || copy.standardError.contains("lacks"), "\(copy.standardError)")
    }

    @Test func aModifiedStorePathIsRefusedWithItsReferrersAndTheRestIsPublished() throws {
        let tampered = nix.physicalPath(of: closure.outputs["leaf-data"]!) + "/numbers"
        chmod((tampered as NSString).deletingLastPathComponent, 0o755)
        chmod(tampered, 0o644)
        try "not what Nix registered\n".write(toFile: tampered, atomically: false, encoding: .utf8)

        let result = try backfill([closure.top])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("uploaded 2, already cached 0, failed 4"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains(closure.outputs["leaf-data"]!) && result.standardOutput.contains("contents changed"))
        for name in ["leaf-data", "middle-a", "middle-b", "top"] {
            #expect(!narInfoExists(closure.outputs[name]!), "\(name) must not be published")
        }
        for name in ["leaf-tools", "lonely"] {
            #expect(narInfoExists(closure.outputs[name]!), "\(name) must be published")
        }
        // Nothing of the refused path is in the cache, not even its NAR.
        let sri = try nix.run("nix", ["path-info", "--json", "--store", nix.storeRoot, closure.outputs["leaf-data"]!]).standardOutput
            .split(separator: "\"").first { $0.hasPrefix("sha256-") }!
        let nix32 = try nix.run("nix", ["hash", "to-base32", String(sri)]).trimmedOutput
        let narFiles = try FileManager.default.contentsOfDirectory(atPath: "\(cache)/nar")
        #expect(narFiles.count >= 2)
        #expect(!narFiles.contains { $0.contains(nix32) }, "\(narFiles) must not hold \(nix32)")
    }

    @Test func aSecondRunUploadsNothing() throws {
        #expect(try backfill([closure.top]).status == 0)
        let narInfo = "\(cache)/\(narInfoName(of: closure.top))"
        let before = try FileManager.default.attributesOfItem(atPath: narInfo)[.modificationDate] as? Date
        let second = try backfill([closure.top])
        #expect(second.status == 0)
        #expect(second.standardOutput.contains("uploaded 0, already cached 6, failed 0"), "\(second.standardOutput)")
        #expect(try FileManager.default.attributesOfItem(atPath: narInfo)[.modificationDate] as? Date == before)
        let repaired = try backfill(["--repair", closure.top])
        #expect(repaired.standardOutput.contains("uploaded 6, already cached 0"), "\(repaired.standardOutput)")
    }

    @Test(arguments: NixVersion.tested)
    static func narInfosAgreeFieldForFieldWithNixCopy(nix version: NixVersion) throws {
        try Self(nix: version).narInfosAgreeFieldForFieldWithNixCopy()
    }

    func narInfosAgreeFieldForFieldWithNixCopy() throws {
        #expect(try backfill([closure.top]).status == 0)
        let nixCache = nix.directory.appending("nix-cache")
        try nix.run("nix", ["copy", "--store", nix.storeRoot, "--to",
                            "file://\(nixCache)?compression=zstd&secret-key=\(key.secretKeyFile)", closure.top])
        for output in closure.outputs.values {
            let ours = try narInfoFields("\(cache)/\(narInfoName(of: output))")
            let theirs = try narInfoFields("\(nixCache)/\(narInfoName(of: output))")
            // Same fields in the same order, and the same values but for the compressed file's name and hash.
            #expect(ours.map(\.0) == theirs.map(\.0))
            for ((name, value), (_, expected)) in zip(ours, theirs) where !["URL", "FileHash", "FileSize"].contains(name) {
                #expect(value == expected, "\(name) of \(output)")
            }
        }
    }

    @Test func theWholeStoreWithAll() throws {
        let result = try backfill(["--all", "--jobs", "3"])
        #expect(result.status == 0, "\(result.standardError)")
        let valid = try nix.run("sqlite3", ["\(nix.storeRoot)/nix/var/nix/db/db.sqlite", "select count(*) from ValidPaths"]).trimmedOutput
        #expect(result.standardOutput.contains("uploaded \(valid), already cached 0, failed 0"), "\(result.standardOutput)")
    }

    /// Every path given counts, wherever it is among the options, however many there are (they
    /// skip swift-argument-parser, which parses long argument lists in quadratic time).
    @Test func manyPathsAmongOptionsAreAllPublished() throws {
        let outputs = closure.outputs.values.sorted()
        // Each path many times over: 6,000 arguments, some after a flag, some after `--`.
        let repeated = Array(repeating: outputs, count: 1_000).flatMap { $0 }
        let result = try backfill([outputs[0], "--jobs", "2"] + repeated[..<3_000] + ["--repair"] + repeated[3_000...] + ["--", outputs[5]])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("uploaded 6, already cached 0, failed 0"), "\(result.standardOutput)")

        let both = try backfill(["--all"] + repeated[..<100])
        #expect(both.status == 2 && both.standardError.contains("not both"), "\(both.standardError)")
        let bad = try backfill(Array(repeated[..<100]) + ["/tmp/not-a-store-path"])
        #expect(bad.status == 2 && bad.standardError.contains("not a store path"), "\(bad.standardError)")
    }

    @Test(arguments: [
        (["/tmp/not-a-store-path"], "not a store path"),
        (["/nix/store/00000000000000000000000000000000-missing"], "not a valid path"),
        (["/nix/store/short-hash"], "not a valid store path"),
    ])
    func badPathsExitTwoBeforeAnythingIsWritten(arguments: [String], message: String) throws {
        let result = try backfill(arguments)
        #expect(result.status == 2)
        #expect(result.standardError.contains(message), "\(result.standardError)")
        #expect(result.standardError.split(separator: "\n").count == 1, "one line: \(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: "\(cache)/nix-cache-info"))
    }

    @Test func badDestinationsAndKeysExitTwo() throws {
        let unknown = try backfill([closure.top], to: "gopher://cache")
        #expect(unknown.status == 2 && unknown.standardError.contains("gopher://cache"), "\(unknown.standardError)")

        let blocker = nix.directory.appending("file-in-the-way")
        try "x".write(toFile: blocker, atomically: true, encoding: .utf8)
        let unwritable = try backfill([closure.top], to: "file://\(blocker)/cache")
        #expect(unwritable.status == 2 && unwritable.standardError.contains(blocker), "\(unwritable.standardError)")

        let missingKey = try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", "file://\(cache)", "--key-file", "/nonexistent/key.sec", "--store-root", nix.storeRoot, closure.top,
        ])
        #expect(missingKey.status == 2 && missingKey.standardError.contains("/nonexistent/key.sec"), "\(missingKey.standardError)")
        #expect(!FileManager.default.fileExists(atPath: cache))
    }


    private func narInfoExists(_ storePath: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(cache)/\(narInfoName(of: storePath))")
    }

    private func narInfoFields(_ file: String) throws -> [(String, String)] {
        try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map { line in
            let colon = line.firstIndex(of: ":")!
            return (String(line[..<colon]), String(line[line.index(colon, offsetBy: 2)...]))
        }
    }
}

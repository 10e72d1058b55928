import Foundation
import Testing
import TestSupport

/// A real Nix, the test closure, a signing key and a file:// cache, with the narsync commands
/// the maintenance tests run and the hand-made damage they inflict.
struct CacheFixture {
    let nix: NixEnvironment
    /// Built by `init()`; nil for fixtures on another environment.
    let closure: TestClosure!
    let key: (secretKeyFile: String, publicKey: String)
    let cache: String

    init() throws {
        nix = try NixEnvironment()
        closure = try TestClosure.build(in: nix)
        key = try nix.generateKey(name: "narsync-maintenance-1")
        cache = nix.directory.appending("binary-cache")
    }

    /// The helpers on another Nix environment (one with a bucket), without a closure built.
    init(nix: NixEnvironment, key: (secretKeyFile: String, publicKey: String)) {
        self.nix = nix
        closure = nil
        self.key = key
        cache = nix.directory.appending("binary-cache")
    }

    var url: String { "file://\(cache)" }

    /// Runs `narsync <arguments>` with the Nix environment (plus `environment`).
    func narsync(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        try Subprocess.run(narsyncExecutable, arguments, environment: environment ?? nix.environment)
    }

    func backfill(_ paths: [String], to url: String? = nil, environment: [String: String]? = nil) throws {
        let result = try narsync(
            ["backfill", "--to", url ?? self.url, "--key-file", key.secretKeyFile, "--store-root", nix.storeRoot] + paths,
            environment: environment)
        #expect(result.status == 0, "backfill: \(result.standardError)")
    }

    /// `narsync verify --json` (plus `arguments`): the exit status and the parsed report.
    func verify(_ arguments: [String] = [], url: String? = nil, environment: [String: String]? = nil) throws -> (status: Int32, report: [String: Any], output: String) {
        let result = try narsync(["verify", url ?? self.url, "--json", "--trusted-public-key", key.publicKey] + arguments, environment: environment)
        let report = (try? JSONSerialization.jsonObject(with: Data(result.outputBytes))) as? [String: Any] ?? [:]
        return (result.status, report, result.standardOutput + result.standardError)
    }

    /// (kind, path) of every problem of a `verify --json` report.
    static func problems(_ report: [String: Any]) -> Set<String> {
        Set(((report["problems"] as? [[String: Any]]) ?? []).map { "\($0["kind"] as? String ?? ""): \($0["path"] as? String ?? $0["key"] as? String ?? "")" })
    }

    /// The narinfo file of a store path in the cache.
    func narInfoFile(_ storePath: String) -> String { "\(cache)/\(narInfoName(of: storePath))" }

    func narInfoText(_ storePath: String) throws -> String { try String(contentsOfFile: narInfoFile(storePath), encoding: .utf8) }

    /// The NAR file a path's narinfo names.
    func narFile(_ storePath: String) throws -> String {
        let url = try narInfoText(storePath).split(separator: "\n").first { $0.hasPrefix("URL: ") }!.dropFirst(5)
        return "\(cache)/\(url)"
    }

    func hasNarInfo(_ storePath: String) -> Bool { FileManager.default.fileExists(atPath: narInfoFile(storePath)) }

    /// Replaces one `Field: value` line of a narinfo.
    func rewrite(_ storePath: String, field: String, to value: String) throws {
        let lines = try narInfoText(storePath).split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("\(field): ") ? "\(field): \(value)" : String(line)
        }
        try lines.joined(separator: "\n").write(toFile: narInfoFile(storePath), atomically: true, encoding: .utf8)
    }

    /// Sets the modification time of every file of the cache (or of `files`) `days` back.
    func age(days: Double, files: [String]? = nil) throws {
        let date = Date().addingTimeInterval(-days * 86_400)
        let all = try files ?? FileManager.default.subpathsOfDirectory(atPath: cache).map { "\(cache)/\($0)" }
        for file in all where !file.hasSuffix("/nar") {
            try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: file)
        }
    }

    /// Every file of the cache with its modification time.
    func snapshot() throws -> [String: Date] {
        var files: [String: Date] = [:]
        for file in try FileManager.default.subpathsOfDirectory(atPath: cache) {
            files[file] = try FileManager.default.attributesOfItem(atPath: "\(cache)/\(file)")[.modificationDate] as? Date
        }
        return files
    }

    /// A new derivation output referencing `references` (store paths already valid), built in
    /// the test store.
    func buildReferring(to references: [String], name: String) throws -> String {
        let inputs = references.map { "${builtins.storePath \"\($0)\"}" }.joined(separator: " ")
        let expression = """
            derivation { name = "\(name)"; system = builtins.currentSystem; builder = "/bin/sh"; \
            PATH = "/bin:/usr/bin"; salt = "\(UUID().uuidString)"; args = [ "-c" "mkdir $out; echo \(inputs) > $out/refs" ]; }
            """
        return try nix.build(expression)[0]
    }

    /// A real Nix substitutes `paths` from `url` into a fresh store with signatures required.
    func expectNixSubstitutes(_ paths: [String], from url: String? = nil) throws {
        let fresh = nix.makeStoreRoot("fresh-\(UUID().uuidString.prefix(8))")
        let copy = try nix.substitute(paths, from: url ?? self.url, into: fresh, trustedKey: key.publicKey)
        #expect(copy.status == 0, "nix copy: \(copy.standardError)")
        let verify = try nix.verifyContents(storeRoot: fresh)
        #expect(verify.status == 0 && !verify.standardError.contains("error"), "\(verify.standardError)")
    }
}

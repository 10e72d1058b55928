import Foundation
import Testing
import TestSupport

/// narsync loads libcurl only when an S3 or HTTP destination needs it (CCurlLoader), so that
/// the hook starts without its two dozen libraries. On a machine without libcurl, then, a
/// file:// cache and the hook work, and an S3 or HTTP URL is refused up front in one line.
/// libcurl is hidden in a private mount namespace (/dev/null bound over it), so this needs root.
@Suite(.enabled(if: ScratchMount.isPermitted, "needs root to hide libcurl in a mount namespace"))
struct WithoutLibcurlTests {
    let nix: NixEnvironment

    init() throws {
        nix = try NixEnvironment()
    }

    /// Where the dynamic loader finds libcurl.so.4 on this machine.
    private func libcurlPath() throws -> String {
        let cache = try Subprocess.checked("ldconfig", ["-p"]).standardOutput
        let line = try #require(cache.split(separator: "\n").first { $0.contains("libcurl.so.4 (") }, "libcurl.so.4 in \(cache)")
        return try #require(line.split(separator: " ").last.map(String.init))
    }

    /// Runs narsync with libcurl.so.4 replaced by an empty file, in a mount namespace of its own.
    private func withoutLibcurl(_ arguments: [String]) throws -> ProcessResult {
        try Subprocess.run("unshare", ["--mount", "--propagation", "private", "sh", "-c",
                                       "mount --bind /dev/null \"$1\" && shift && exec \"$@\"",
                                       "sh", try libcurlPath(), narsyncExecutable] + arguments, environment: nix.environment)
    }

    @Test func aFileCacheAndTheHookWorkAndRemoteURLsAreRefusedInOneLine() throws {
        let linked = try Subprocess.checked("ldd", [narsyncExecutable]).standardOutput
        #expect(!linked.contains("libcurl"), "narsync links libcurl: \(linked)")

        let closure = try TestClosure.build(in: nix)
        let key = try nix.generateKey(name: "no-curl-1")
        let cache = nix.directory.appending("cache")
        let published = try withoutLibcurl(["backfill", "--to", "file://\(cache)", "--key-file", key.secretKeyFile,
                                            "--store-root", nix.storeRoot, closure.top])
        #expect(published.status == 0, "\(published.standardError)")
        #expect(published.standardOutput.contains("uploaded 6, already cached 0, failed 0"), "\(published.standardOutput)")

        let spool = nix.directory.appending("spool")
        let hook = try withoutLibcurl(["hook", "--socket", nix.directory.appending("no-service.sock"), "--spool-dir", spool, closure.top])
        #expect(hook.status == 0, "\(hook.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool).count == 1, "\(hook.standardError)")

        for url in ["s3://bucket?endpoint=127.0.0.1:9&scheme=http", "http://127.0.0.1:9/cache"] {
            let refused = try withoutLibcurl(["backfill", "--to", url, "--key-file", key.secretKeyFile,
                                              "--store-root", nix.storeRoot, closure.top])
            #expect(refused.status == 2, "\(url): \(refused.standardError)")
            #expect(refused.standardError.contains("cannot load libcurl"), "\(url): \(refused.standardError)")
            #expect(refused.standardError.trimmingCharacters(in: .newlines).split(separator: "\n").count == 1,
                    "one line: \(refused.standardError)")
        }
    }
}

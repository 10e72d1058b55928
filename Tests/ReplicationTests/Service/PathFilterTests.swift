import Testing
@testable import NixStore
@testable import Replication

@Suite struct PathFilterTests {
    private func info(_ name: String, signatures: [String] = []) -> ValidPathInfo {
        ValidPathInfo(id: 1, path: try! StorePath(baseName: "00rn9ycyln9km24xqsq6y3bd5njkazsv-\(name)"),
                      narHash: NixHash(SHA256Hasher.hash([])), narSize: 8, signatures: signatures)
    }

    @Test func derivationsAreSkippedUnlessAskedFor() {
        #expect(PathFilter().exclusionReason(info("hello-2.12.drv")) == "a derivation (.drv)")
        #expect(PathFilter(includeDerivations: true).accepts(info("hello-2.12.drv")))
        #expect(PathFilter().accepts(info("hello-2.12")))
    }

    @Test func includeAndExcludeGlobsApplyToTheName() {
        let filter = PathFilter(includes: ["hello-*", "*-tools"], excludes: ["*-doc", "hello-2.1?"])
        #expect(filter.accepts(info("hello-2.9")))
        #expect(filter.accepts(info("leaf-tools")))
        #expect(!filter.accepts(info("bash-5.2")))
        #expect(filter.exclusionReason(info("hello-2.12")) == "matches exclude pattern 'hello-2.1?'")
        #expect(!PathFilter(excludes: ["*-doc"]).accepts(info("hello-doc")))
        // The hash part is not part of the name a pattern sees.
        #expect(!PathFilter(includes: ["00rn*"]).accepts(info("hello")))
    }

    @Test func pathsSignedByAnUpstreamCacheAreSkipped() {
        let filter = PathFilter(skipSignedBy: ["cache.nixos.org-1"])
        #expect(filter.exclusionReason(info("glibc", signatures: ["other-1:abc", "cache.nixos.org-1:xyz"])) == "already signed by cache.nixos.org-1")
        #expect(filter.accepts(info("glibc", signatures: ["my-builder-1:abc"])))
        #expect(filter.accepts(info("glibc")))
    }
}

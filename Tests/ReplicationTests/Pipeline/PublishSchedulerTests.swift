import Testing
@testable import NixStore
@testable import Replication

/// The ordering rules, without I/O: NARs in any order, narinfos only after their references.
@Suite struct PublishSchedulerTests {
    private func path(_ name: String) -> StorePath {
        let hash = String(repeating: "0", count: 31) + String(NixBase32.alphabet.map { Character(UnicodeScalar($0)) }[name.count % 32])
        return try! StorePath(baseName: "\(hash)-\(name)")
    }

    private func info(_ name: String, _ references: [String]) -> ValidPathInfo {
        ValidPathInfo(id: 0, path: path(name), narHash: NixHash(SHA256Hasher.hash(Array(name.utf8))), narSize: 1,
                      references: references.map(path).sorted())
    }

    private let nar = UploadedNar(key: "nar/x.nar.zst", fileHash: NixHash(SHA256Hasher.hash([1])), fileSize: 1)

    @Test func aNarInfoWaitsForItsReferencesEvenIfItsNarIsFirst() {
        let leaf = info("leaf", []), top = info("topx", ["leaf", "topx"])
        var scheduler = PublishScheduler(paths: [leaf, top])
        guard case .uploadNar(let first)? = scheduler.nextJob(), case .uploadNar(let second)? = scheduler.nextJob() else {
            Issue.record("both NARs should start at once")
            return
        }
        #expect([first.path, second.path] == [leaf.path, top.path])
        #expect(scheduler.nextJob() == nil)
        // top's NAR finishes first: its narinfo must wait for leaf's.
        scheduler.narUploaded(top, nar)
        #expect(scheduler.nextJob() == nil)
        scheduler.narUploaded(leaf, nar)
        guard case .writeNarInfo(let ready, _)? = scheduler.nextJob() else { Issue.record("leaf's narinfo is next"); return }
        #expect(ready.path == leaf.path)
        #expect(scheduler.nextJob() == nil, "top still waits for leaf's narinfo to be written")
        scheduler.narInfoWritten(leaf.path)
        guard case .writeNarInfo(let last, _)? = scheduler.nextJob() else { Issue.record("top's narinfo is next"); return }
        #expect(last.path == top.path)
        scheduler.narInfoWritten(top.path)
        #expect(scheduler.isFinished)
        #expect(scheduler.outcomes.values.allSatisfy { $0 == .published })
    }

    @Test func aFailureFailsEveryReferrerAndNothingElse() {
        let bad = info("bad", []), good = info("good", []), middle = info("middle", ["bad"]),
            top = info("topmost", ["middle", "good"]), other = info("other", ["good"])
        var scheduler = PublishScheduler(paths: [bad, good, middle, top, other])
        var started: [StorePath] = []
        while case .uploadNar(let next)? = scheduler.nextJob() { started.append(next.path) }
        #expect(started.count == 5)
        scheduler.narUploaded(top, nar)
        scheduler.narUploaded(middle, nar)
        scheduler.failed(bad.path, .hashMismatch(bad.path, expected: "a", actual: "b"))
        scheduler.narUploaded(good, nar)
        scheduler.narUploaded(other, nar)
        var written: [StorePath] = []
        while case .writeNarInfo(let ready, _)? = scheduler.nextJob() {
            written.append(ready.path)
            scheduler.narInfoWritten(ready.path)
        }
        #expect(Set(written) == [good.path, other.path])
        #expect(scheduler.isFinished)
        #expect(scheduler.outcomes[middle.path] == .failed(.dependencyFailed(middle.path, dependency: bad.path)))
        #expect(scheduler.outcomes[top.path] == .failed(.dependencyFailed(top.path, dependency: middle.path)))
    }

    @Test func aPathWhoseReferenceAlreadyFailedIsNeverUploaded() {
        let bad = info("bad", []), top = info("topmost", ["bad"])
        var scheduler = PublishScheduler(paths: [bad, top])
        guard case .uploadNar? = scheduler.nextJob() else { Issue.record("bad starts"); return }
        scheduler.failed(bad.path, .vanished(bad.path))
        #expect(scheduler.nextJob() == nil, "top must not be uploaded once its reference is gone")
        #expect(scheduler.isFinished)
        #expect(scheduler.outcomes[bad.path] == .vanished)
        #expect(scheduler.outcomes[top.path] == .vanished, "its referrer was collected before it")
    }

    @Test func referencesOutsideTheBatchCountAsCached() {
        let top = info("topmost", ["elsewhere"])
        var scheduler = PublishScheduler(paths: [top])
        _ = scheduler.nextJob()
        scheduler.narUploaded(top, nar)
        guard case .writeNarInfo? = scheduler.nextJob() else { Issue.record("nothing to wait for"); return }
    }
}

extension PublishScheduler.Job: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.uploadNar(let a), .uploadNar(let b)): a.path == b.path
        case (.writeNarInfo(let a, _), .writeNarInfo(let b, _)): a.path == b.path
        default: false
        }
    }
}

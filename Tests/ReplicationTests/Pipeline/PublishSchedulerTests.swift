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
        guard case .writeNarInfos(let group)? = scheduler.nextJob(), group.count == 1, let ready = group.first?.0 else { Issue.record("leaf's narinfo is next"); return }
        #expect(ready.path == leaf.path)
        #expect(scheduler.nextJob() == nil, "top still waits for leaf's narinfo to be written")
        scheduler.narInfosFinished(written: [leaf.path], failures: [])
        guard case .writeNarInfos(let group)? = scheduler.nextJob(), group.count == 1, let last = group.first?.0 else { Issue.record("top's narinfo is next"); return }
        #expect(last.path == top.path)
        scheduler.narInfosFinished(written: [top.path], failures: [])
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
        while case .writeNarInfos(let group)? = scheduler.nextJob(), let ready = group.first?.0 {
            written.append(ready.path)
            scheduler.narInfosFinished(written: [ready.path], failures: [])
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
        guard case .writeNarInfos? = scheduler.nextJob() else { Issue.record("nothing to wait for"); return }
    }

    @Test func inGroupsTheNarInfosReadyDuringAGroupFormTheNextOne() {
        let a = info("aa", []), b = info("bbb", []), c = info("cccc", []), top = info("topmost", ["aa", "bbb", "cccc"])
        var scheduler = PublishScheduler(paths: [a, b, c, top], inGroups: true)
        while case .uploadNar? = scheduler.nextJob() {}
        scheduler.narUploaded(a, nar)
        scheduler.narUploaded(top, nar)
        guard case .writeNarInfos(let first)? = scheduler.nextJob() else { Issue.record("a's narinfo is ready"); return }
        #expect(first.map(\.0.path) == [a.path])
        // While that group is written, b and c become ready: they wait, and go together.
        scheduler.narUploaded(b, nar)
        scheduler.narUploaded(c, nar)
        #expect(scheduler.nextJob() == nil, "one group at a time")
        scheduler.narInfosFinished(written: [a.path], failures: [])
        guard case .writeNarInfos(let second)? = scheduler.nextJob() else { Issue.record("b and c are ready"); return }
        #expect(Set(second.map(\.0.path)) == [b.path, c.path])
        #expect(scheduler.nextJob() == nil, "top waits for b and c to be written")
        scheduler.narInfosFinished(written: [b.path, c.path], failures: [])
        guard case .writeNarInfos(let third)? = scheduler.nextJob() else { Issue.record("top is ready"); return }
        #expect(third.map(\.0.path) == [top.path])
        scheduler.narInfosFinished(written: [top.path], failures: [])
        #expect(scheduler.isFinished)
    }

    @Test func aFailedGroupFailsItsPathsAndTheirReferrers() {
        let a = info("aa", []), b = info("bbb", []), top = info("topmost", ["aa"])
        var scheduler = PublishScheduler(paths: [a, b, top], inGroups: true)
        while case .uploadNar? = scheduler.nextJob() {}
        for path in [a, b, top] { scheduler.narUploaded(path, nar) }
        guard case .writeNarInfos(let group)? = scheduler.nextJob() else { Issue.record("a and b are ready"); return }
        #expect(Set(group.map(\.0.path)) == [a.path, b.path])
        scheduler.narInfosFinished(written: [], failures: group.map { .destination($0.0.path, "disk full") })
        #expect(scheduler.nextJob() == nil)
        #expect(scheduler.isFinished)
        #expect(scheduler.outcomes[top.path] == .failed(.dependencyFailed(top.path, dependency: a.path)))
        #expect(scheduler.outcomes[b.path] == .failed(.destination(b.path, "disk full")))
    }
}

extension PublishScheduler.Job: Equatable {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.uploadNar(let a), .uploadNar(let b)): a.path == b.path
        case (.writeNarInfos(let a), .writeNarInfos(let b)): a.map(\.0.path) == b.map(\.0.path)
        default: false
        }
    }
}

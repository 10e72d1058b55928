import NixStore

/// Decides, for a batch of paths in dependency order, what to upload next, so that uploads run
/// in parallel while no narinfo is written before the narinfos of all its references.
///
/// NARs may go up in any order (a NAR alone announces nothing); a path's narinfo is written only
/// once each of its references is in the cache, either found there at the start or published in
/// this batch. When a path fails, every path that references it fails too, and is not uploaded
/// at all if it has not started. A path whose reference was garbage-collected counts as
/// garbage-collected itself: Nix deletes referrers before their references, so it is gone too.
/// Pure bookkeeping, no I/O: the `Publisher` carries the jobs out.
///
/// For a destination that commits in groups, narinfos are written one group at a time: those
/// that become ready while a group is being written wait and form the next group, so the
/// groups grow with the cost of a commit (group commit, as databases do with their log).
struct PublishScheduler {
    enum Job {
        case uploadNar(ValidPathInfo)
        /// Narinfos whose references are all in the cache, none referring to another.
        case writeNarInfos([(ValidPathInfo, UploadedNar)])
    }

    /// Open files a group holds at once (a directory destination writes them all before the flush).
    static let largestGroup = 256

    enum Outcome: Equatable {
        case published
        case failed(PublishError)
        case vanished

        static func == (lhs: Outcome, rhs: Outcome) -> Bool {
            switch (lhs, rhs) {
            case (.published, .published), (.vanished, .vanished): true
            case (.failed(let a), .failed(let b)): a.path == b.path
            default: false
            }
        }
    }

    private var pending: [ValidPathInfo]
    private var nextPending = 0
    /// NARs uploaded whose narinfo is ready to be written.
    private var readyNarInfos: [(ValidPathInfo, UploadedNar)] = []
    /// NARs uploaded whose references are still on their way...
    private var waiting: [StorePath: (ValidPathInfo, UploadedNar)] = [:]
    /// ...and, for each reference on its way, the paths waiting for it.
    private var waitingReferrers: [StorePath: [StorePath]] = [:]
    private var inBatch: Set<StorePath>
    private(set) var outcomes: [StorePath: Outcome] = [:]
    private let inGroups: Bool
    private var isWritingGroup = false

    /// - Parameters:
    ///   - paths: the paths to publish, references before referrers. References outside this
    ///     list must already be in the cache.
    ///   - inGroups: whether narinfos go out in groups (see `BinaryCacheDestination.commitsInGroups`).
    init(paths: [ValidPathInfo], inGroups: Bool = false) {
        pending = paths
        inBatch = Set(paths.map(\.path))
        self.inGroups = inGroups
    }

    var isFinished: Bool { outcomes.count == inBatch.count }

    /// The next job to start, or nil if none can start until a running job finishes.
    mutating func nextJob() -> Job? {
        if !isWritingGroup, !readyNarInfos.isEmpty {
            // Without groups, one narinfo per job, and as many jobs at once as there are slots.
            let group = Array(readyNarInfos.suffix(inGroups ? Self.largestGroup : 1))
            readyNarInfos.removeLast(group.count)
            isWritingGroup = inGroups
            return .writeNarInfos(group)
        }
        while nextPending < pending.count {
            let info = pending[nextPending]
            nextPending += 1
            if let failed = failedDependency(of: info) {
                fail(info.path, becauseOf: failed)
                continue
            }
            return .uploadNar(info)
        }
        return nil
    }

    mutating func narUploaded(_ info: ValidPathInfo, _ nar: UploadedNar) {
        if let failed = failedDependency(of: info) {
            fail(info.path, becauseOf: failed)
        } else if allDependenciesPublished(info) {
            readyNarInfos.append((info, nar))
        } else {
            waiting[info.path] = (info, nar)
            for dependency in info.dependencies where inBatch.contains(dependency) && outcomes[dependency] == nil {
                waitingReferrers[dependency, default: []].append(info.path)
            }
        }
    }

    /// A `writeNarInfos` job is done: `written` are in the cache, `failures` are not.
    mutating func narInfosFinished(written: [StorePath], failures: [PublishError]) {
        isWritingGroup = false
        for path in written { narInfoWritten(path) }
        for error in failures { fail(error.path, with: error) }
    }

    private mutating func narInfoWritten(_ path: StorePath) {
        outcomes[path] = .published
        for referrer in waitingReferrers.removeValue(forKey: path) ?? [] {
            if let entry = waiting[referrer], allDependenciesPublished(entry.0) {
                waiting[referrer] = nil
                readyNarInfos.append(entry)
            }
        }
    }

    mutating func failed(_ path: StorePath, _ error: PublishError) {
        fail(path, with: error)
    }

    private mutating func fail(_ path: StorePath, with error: PublishError) {
        if case .vanished = error { outcomes[path] = .vanished } else { outcomes[path] = .failed(error) }
        // Referrers whose NAR is already up will never get a narinfo: fail them, and theirs.
        for referrer in waitingReferrers.removeValue(forKey: path) ?? [] where waiting.removeValue(forKey: referrer) != nil {
            fail(referrer, becauseOf: path)
        }
    }

    private mutating func fail(_ path: StorePath, becauseOf dependency: StorePath) {
        fail(path, with: outcomes[dependency] == .vanished ? .vanished(path) : .dependencyFailed(path, dependency: dependency))
    }

    private func failedDependency(of info: ValidPathInfo) -> StorePath? {
        info.dependencies.first { dependency in
            switch outcomes[dependency] {
            case .failed?, .vanished?: true
            default: false
            }
        }
    }

    private func allDependenciesPublished(_ info: ValidPathInfo) -> Bool {
        info.dependencies.allSatisfy { !inBatch.contains($0) || outcomes[$0] == .published }
    }
}

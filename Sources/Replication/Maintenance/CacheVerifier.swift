import BinaryCache
import Foundation
import NixStore
import SystemSupport

/// How `narsync verify` checks a cache.
public struct VerifyOptions: Sendable {
    /// Keys whose signature each narinfo must carry; empty: signatures are not judged.
    public var trustedKeys: [PublicKey]
    /// Download, decompress and hash every NAR.
    public var checkContents: Bool
    /// Requests (and contents checks) in flight at once.
    public var jobs: Int
    /// For a cache that cannot be listed (HTTP): the paths to check, with the closures the
    /// cache announces for them. Ignored for caches that can be listed.
    public var paths: [StorePath]

    public init(trustedKeys: [PublicKey] = [], checkContents: Bool = false, jobs: Int = 16, paths: [StorePath] = []) {
        self.trustedKeys = trustedKeys
        self.checkContents = checkContents
        self.jobs = max(1, jobs)
        self.paths = paths
    }
}

/// Reads every narinfo of a cache (or, where it cannot be listed, the closures of given paths)
/// and reports what is wrong, path by path: malformed narinfos, NARs missing or of the wrong
/// size, references without narinfo, missing trusted signatures and, if asked, contents that
/// differ from what the narinfo says. It never writes.
public final class CacheVerifier: Sendable {
    private let destination: any CacheMaintenance
    private let executor: BlockingExecutor
    private let options: VerifyOptions
    /// The cache's store directory, known once its `nix-cache-info` is read.
    private let cacheStoreDirectory = Locked(StoreDirectory.standard)

    public init(destination: any CacheMaintenance, executor: BlockingExecutor, options: VerifyOptions) {
        self.destination = destination
        self.executor = executor
        self.options = options
    }

    /// The cache could not be listed and no paths were given.
    public struct NeedsPaths: Error, CustomStringConvertible {
        public var cache: String
        public var description: String {
            "\(cache) cannot be listed: give the store paths to verify as arguments or with --paths-from FILE"
        }
    }

    public func verify(progress: (any MaintenanceProgress)? = nil) async throws -> CacheReport {
        var report: CacheReport
        if let inventory = try await CacheInventory.load(from: destination, executor: executor, jobs: options.jobs, progress: progress) {
            report = check(inventory)
        } else {
            guard !options.paths.isEmpty else { throw NeedsPaths(cache: "\(destination)") }
            report = try await walkClosures(progress: progress)
        }
        if options.checkContents { try await checkContents(&report, progress: progress) }
        report.problems.sort { ($0.path ?? $0.key, $0.kind.rawValue) < ($1.path ?? $1.key, $1.kind.rawValue) }
        return report
    }

    /// The checks of a listed cache: everything is known from the listing and the narinfos.
    func check(_ inventory: CacheInventory) -> CacheReport {
        cacheStoreDirectory.withLock { $0 = inventory.storeDirectory }
        var report = CacheReport()
        report.entries = inventory.narInfos
        report.narInfos = inventory.narInfos.count
        report.incompleteUploads = inventory.incompleteUploads
        let hashes = Set(inventory.narInfos.map(\.hashPart))
        var named = Set<String>()
        for entry in inventory.narInfos {
            guard let narInfo = problemsOfText(entry, into: &report) else { continue }
            named.insert(narInfo.url)
            let nar = inventory.nars[narInfo.url]
            report.problems += narProblems(entry, narInfo, nar)
            report.problems += referenceProblems(entry, narInfo, inCache: hashes.contains)
        }
        let namedNars = inventory.nars.values.filter { named.contains($0.key) }
        report.narObjects = namedNars.count
        report.narBytes = namedNars.reduce(0) { $0 + $1.size }
        report.orphanedNars = inventory.nars.values.filter { !named.contains($0.key) }.sorted { $0.key < $1.key }
        return report
    }

    /// A cache that cannot be listed: the given paths and what they reference, level by level,
    /// with a read per narinfo and a HEAD per NAR.
    private func walkClosures(progress: (any MaintenanceProgress)?) async throws -> CacheReport {
        var report = CacheReport()
        let destination = destination, executor = executor
        let storeDirectory = try await CacheInventory.storeDirectory(of: destination, executor: executor)
        cacheStoreDirectory.withLock { $0 = storeDirectory }
        var seen = Set<String>()
        var level = options.paths.map { String($0.hashPart) }.filter { seen.insert($0).inserted }
        for path in options.paths {
            if try await executor.run({ try destination.objectInfo(key: CacheKeys.narInfo(path)) }) == nil {
                report.problems.append(CacheProblem(
                    kind: .missingNar, key: CacheKeys.narInfo(path), path: storeDirectory.fullPath(of: path),
                    detail: "the cache has no narinfo for it"))
            }
        }
        progress?.started(items: level.count, bytes: 0)
        while !level.isEmpty {
            let objects = level.map { StoredObject(key: "\($0)\(CacheKeys.narInfoSuffix)", size: 0, modified: Date()) }
            let entries = try await CacheInventory.readNarInfos(
                objects, from: destination, storeDirectory: storeDirectory, executor: executor, jobs: options.jobs, progress: progress)
            report.entries += entries
            let checked = try await concurrentMap(entries, limit: options.jobs) { entry -> ([CacheProblem], [StorePath], StoredObject?) in
                guard let narInfo = entry.narInfo else { return ([], [], nil) }
                let nar = try await executor.run { try destination.objectInfo(key: narInfo.url) }
                var problems = self.narProblems(entry, narInfo, nar)
                var present: [StorePath] = []
                for reference in Set(narInfo.references) where reference != narInfo.storePath {
                    if try await executor.run({ try destination.objectInfo(key: CacheKeys.narInfo(reference)) }) != nil {
                        present.append(reference)
                    } else {
                        problems += self.referenceProblems(entry, narInfo) { $0 != String(reference.hashPart) }
                    }
                }
                return (problems, present, nar)
            }
            var next: [String] = []
            for (entry, (problems, present, nar)) in zip(entries, checked) {
                _ = problemsOfText(entry, into: &report)
                report.problems += problems
                if let nar {
                    report.narObjects += 1
                    report.narBytes += nar.size
                }
                next += present.map { String($0.hashPart) }.filter { seen.insert($0).inserted }
            }
            progress?.started(items: next.count, bytes: 0)
            level = next
        }
        report.narInfos = report.entries.count
        return report
    }

    /// The narinfo, or nil after recording it as malformed, or as unsigned.
    private func problemsOfText(_ entry: CachedNarInfo, into report: inout CacheReport) -> NarInfo? {
        switch entry.contents {
        case .failure(let error):
            let place = error.line.map { "line \($0): " } ?? ""
            report.problems.append(CacheProblem(kind: .malformed, key: entry.object.key, path: nil, detail: place + error.reason))
            return nil
        case .success(let narInfo):
            if !options.trustedKeys.isEmpty,
                narInfo.signatures(verifiedBy: options.trustedKeys, in: storeDirectory(of: narInfo)).isEmpty {
                let names = options.trustedKeys.map(\.name).joined(separator: ", ")
                report.problems.append(CacheProblem(
                    kind: .unsigned, key: entry.object.key, path: fullPath(narInfo),
                    detail: "no valid signature by \(names) (signed by: \(narInfo.signatures.map { String($0.prefix { $0 != ":" }) }.joined(separator: ", ")))"))
            }
            return narInfo
        }
    }

    private func narProblems(_ entry: CachedNarInfo, _ narInfo: NarInfo, _ nar: StoredObject?) -> [CacheProblem] {
        guard let nar else {
            return [CacheProblem(kind: .missingNar, key: entry.object.key, path: fullPath(narInfo), detail: "\(narInfo.url) is missing")]
        }
        if let expected = narInfo.fileSize, expected != nar.size {
            return [CacheProblem(
                kind: .missingNar, key: entry.object.key, path: fullPath(narInfo),
                detail: "\(narInfo.url) holds \(nar.size) bytes, FileSize says \(expected)")]
        }
        return []
    }

    private func referenceProblems(_ entry: CachedNarInfo, _ narInfo: NarInfo, inCache: (String) -> Bool) -> [CacheProblem] {
        Set(narInfo.references).sorted().filter { $0 != narInfo.storePath && !inCache(String($0.hashPart)) }.map { reference in
            CacheProblem(
                kind: .missingReference, key: entry.object.key, path: fullPath(narInfo),
                detail: "its reference \(storeDirectory(of: narInfo).fullPath(of: reference)) has no narinfo",
                missingHash: String(reference.hashPart))
        }
    }

    /// Downloads and hashes every NAR that is there with the right size, `jobs` at a time.
    private func checkContents(_ report: inout CacheReport, progress: (any MaintenanceProgress)?) async throws {
        let broken = Set(report.problems.filter { $0.kind == .missingNar || $0.kind == .malformed }.map(\.key))
        let candidates = report.entries.filter { !broken.contains($0.object.key) && $0.narInfo != nil }
        let checkable = candidates.filter { NarContentCheck.canCheck($0.narInfo!.compression) }
        for entry in candidates where !NarContentCheck.canCheck(entry.narInfo!.compression) {
            report.notChecked.append("\(fullPath(entry.narInfo!)): compression \(entry.narInfo!.compression) is not checked")
        }
        progress?.started(items: checkable.count, bytes: checkable.reduce(0) { $0 + ($1.narInfo!.fileSize ?? 0) })
        let check = NarContentCheck(destination: destination), executor = executor
        let mismatches = try await concurrentMap(checkable, limit: options.jobs) { entry -> String? in
            let narInfo = entry.narInfo!
            let mismatch = try await executor.run { () -> String? in
                do { return try check.mismatch(of: narInfo) } catch let error as ZstdError { return "\(narInfo.url): \(error)" }
            }
            progress?.advanced(items: 1, bytes: narInfo.fileSize ?? 0)
            return mismatch
        }
        for (entry, mismatch) in zip(checkable, mismatches) {
            guard let mismatch else { continue }
            report.problems.append(CacheProblem(kind: .contents, key: entry.object.key, path: fullPath(entry.narInfo!), detail: mismatch))
        }
    }

    private func fullPath(_ narInfo: NarInfo) -> String { storeDirectory(of: narInfo).fullPath(of: narInfo.storePath) }

    /// Narinfos were parsed in the cache's store directory (its `nix-cache-info`); their full
    /// paths and fingerprints are in it too.
    private func storeDirectory(of narInfo: NarInfo) -> StoreDirectory { cacheStoreDirectory.withLock { $0 } }
}

import BinaryCache
import Foundation
import NixStore
import SystemSupport

/// A narinfo read from a cache: the object (its key, size, age) and what it says, or why it
/// cannot be read.
public struct CachedNarInfo: Sendable {
    public var object: StoredObject
    public var contents: Result<NarInfo, NarInfoError>

    public init(object: StoredObject, contents: Result<NarInfo, NarInfoError>) {
        self.object = object
        self.contents = contents
    }

    /// `<hash>` of `<hash>.narinfo`: what references name.
    public var hashPart: String { String(object.key.dropLast(CacheKeys.narInfoSuffix.count)) }

    public var narInfo: NarInfo? { try? contents.get() }
}

/// The keys of a Nix binary cache.
public enum CacheKeys {
    public static let narInfoSuffix = ".narinfo"
    public static let cacheInfo = "nix-cache-info"

    public static func narInfo(_ path: StorePath) -> String { "\(path.hashPart)\(narInfoSuffix)" }

    /// Whether `key` is a top-level `<hash>.narinfo` (a 32-character nix32 hash part).
    public static func isNarInfo(_ key: String) -> Bool {
        key.hasSuffix(narInfoSuffix) && !key.contains("/") && key.utf8.count == 32 + narInfoSuffix.utf8.count
    }

    public static func isNar(_ key: String) -> Bool { key.hasPrefix("nar/") }
}

/// What a cache holds: its narinfos (read and parsed), its NAR objects and its uploads left
/// in flight, each with size and modification time. Built from one listing and one read per
/// narinfo, `jobs` at a time.
public struct CacheInventory: Sendable {
    public var storeDirectory: StoreDirectory
    public var narInfos: [CachedNarInfo]
    /// NAR objects by key (`nar/<hash>.nar.zst`).
    public var nars: [String: StoredObject]
    public var incompleteUploads: [IncompleteUpload]

    public init(storeDirectory: StoreDirectory, narInfos: [CachedNarInfo], nars: [String: StoredObject], incompleteUploads: [IncompleteUpload]) {
        self.storeDirectory = storeDirectory
        self.narInfos = narInfos
        self.nars = nars
        self.incompleteUploads = incompleteUploads
    }

    /// Lists `destination` and reads every narinfo.
    /// - Returns: nil if the destination cannot be listed (an HTTP cache).
    public static func load(
        from destination: any CacheMaintenance, executor: BlockingExecutor, jobs: Int,
        progress: (any MaintenanceProgress)? = nil
    ) async throws -> CacheInventory? {
        guard let objects = try await executor.run({ try destination.listObjects() }) else { return nil }
        let uploads = try await executor.run { try destination.incompleteUploads() }
        let storeDirectory = try await CacheInventory.storeDirectory(of: destination, executor: executor)
        let narInfoObjects = objects.filter { CacheKeys.isNarInfo($0.key) }
        progress?.started(items: narInfoObjects.count, bytes: 0)
        let narInfos = try await readNarInfos(
            narInfoObjects, from: destination, storeDirectory: storeDirectory, executor: executor, jobs: jobs, progress: progress)
        let nars = Dictionary(objects.filter { CacheKeys.isNar($0.key) }.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        return CacheInventory(storeDirectory: storeDirectory, narInfos: narInfos, nars: nars, incompleteUploads: uploads)
    }

    /// The store directory the cache's `nix-cache-info` names (`StoreDir:`), `/nix/store` if none.
    public static func storeDirectory(of destination: any CacheMaintenance, executor: BlockingExecutor) async throws -> StoreDirectory {
        guard let bytes = try await executor.run({ try destination.read(key: CacheKeys.cacheInfo) }) else { return .standard }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("StoreDir:") {
            return try StoreDirectory(line.dropFirst("StoreDir:".count).trimmingCharacters(in: .whitespaces))
        }
        return .standard
    }

    /// Reads and parses narinfos, `jobs` at a time, in the order given. A narinfo that
    /// disappears while being read (removed by a gc) is left out.
    public static func readNarInfos(
        _ objects: [StoredObject], from destination: any CacheMaintenance, storeDirectory: StoreDirectory,
        executor: BlockingExecutor, jobs: Int, progress: (any MaintenanceProgress)? = nil
    ) async throws -> [CachedNarInfo] {
        let source = "\(destination)"
        let read = try await concurrentMap(objects, limit: jobs) { object -> CachedNarInfo? in
            let entry: CachedNarInfo? = try await executor.run {
                guard let bytes = try destination.read(key: object.key) else { return nil }
                do {
                    let narInfo = try NarInfo(
                        parsing: String(decoding: bytes, as: UTF8.self), storeDirectory: storeDirectory,
                        source: "\(source)/\(object.key)")
                    return CachedNarInfo(object: object, contents: .success(narInfo))
                } catch let error as NarInfoError {
                    return CachedNarInfo(object: object, contents: .failure(error))
                }
            }
            progress?.advanced(items: 1, bytes: 0)
            return entry
        }
        return read.compactMap { $0 }
    }
}

/// Progress of a long maintenance step, for a progress bar.
public protocol MaintenanceProgress: Sendable {
    func started(items: Int, bytes: UInt64)
    func advanced(items: Int, bytes: UInt64)
}

/// `transform` applied to every element, at most `limit` at once, results in the input's order.
func concurrentMap<Element: Sendable, Result: Sendable>(
    _ elements: [Element], limit: Int, _ transform: @escaping @Sendable (Element) async throws -> Result
) async throws -> [Result] {
    try await withThrowingTaskGroup(of: (Int, Result).self) { group in
        var results = [Result?](repeating: nil, count: elements.count)
        var next = 0
        func startOne() {
            let index = next, element = elements[index]
            next += 1
            group.addTask { (index, try await transform(element)) }
        }
        while next < elements.count && next < max(1, limit) { startOne() }
        while let (index, result) = try await group.next() {
            results[index] = result
            if next < elements.count { startOne() }
        }
        return results.map { $0! }
    }
}

import Foundation
import NixStore
@testable import Replication
import TestSupport

/// A store path whose hash part encodes `number`, named `name`.
func storePath(_ number: Int, name: String = "pkg") -> StorePath {
    let digits = Array("0123456789abcdfghijklmnpqrsvwxyz")
    var hash = ""
    var rest = number
    for _ in 0..<StorePath.hashLength {
        hash.append(digits[rest % 32])
        rest /= 32
    }
    return try! StorePath(baseName: "\(hash)-\(name)")
}

func queued(_ number: Int, _ priority: QueuePriority = .watcher, reason: String = "test") -> QueuedPath {
    QueuedPath(path: storePath(number), priority: priority, reason: reason)
}

func published(_ number: Int, fileSize: Int64 = 100, narSize: Int64 = 300) -> PublishedPath {
    let nar = UploadedNar(key: "nar/\(number).nar.zst", fileHash: NixHash(SHA256Hasher.hash(Array("\(number)".utf8))),
                          fileSize: UInt64(fileSize))
    return PublishedPath(path: storePath(number), narSize: UInt64(narSize), nar: nar)
}

/// A fixed point in time, so that backoff arithmetic is exact.
let epoch = Date(timeIntervalSince1970: 1_800_000_000)

extension Manifest {
    /// Every due path of `destination`, in batch order.
    func queuedPaths(for destination: String, now: Date = .distantFuture) throws -> [StorePath] {
        try nextBatch(for: destination, limit: 10_000, now: now).map(\.path)
    }
}

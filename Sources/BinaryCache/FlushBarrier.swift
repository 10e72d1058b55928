import Foundation
import SystemSupport

/// Makes a directory cache's files durable before anything names them, whichever way is cheaper.
///
/// NARs are renamed into place unflushed and recorded here; a group of narinfos, in temporary
/// files, is flushed together with them before the narinfos are renamed. A few files are
/// fsynced one by one, with `nar/`: the cost follows narsync's own files, and nothing else on the
/// filesystem delays them (`watch` publishing one build's outputs). Beyond `syncfsThreshold`,
/// one `syncfs(2)` flushes them all (a backfill of thousands of small paths): one flush for any
/// number of files, plus whatever else is dirty on that filesystem, which the kernel would write
/// within seconds anyway.
final class FlushBarrier: Sendable {
    static let syncfsThreshold = 32

    private let fileSystem: FileSystemSync
    /// Committed NARs not yet flushed.
    private let unflushed = Locked<[String]>([])

    init(directory: String) throws {
        fileSystem = try FileSystemSync(directory: directory)
    }

    /// Records a file renamed into place without a flush.
    func committed(_ path: String) {
        unflushed.withLock { $0.append(path) }
    }

    /// Makes every file committed so far and the contents of `temporaries` durable.
    func flush(_ temporaries: [AtomicFileWriter]) throws {
        let files = unflushed.withLock { files in
            defer { files = [] }
            return files
        }
        do {
            if files.count + temporaries.count > Self.syncfsThreshold {
                try fileSystem.sync()
            } else {
                for file in files { try Self.sync(file) }
                for temporary in temporaries { try temporary.sync() }
                for directory in Set(files.map { splitPath($0).directory }) { try syncDirectory(directory) }
            }
        } catch {
            unflushed.withLock { $0.insert(contentsOf: files, at: 0) }
            throw error
        }
    }

    /// fsyncs a committed file; one removed since (someone cleaning the cache) needs nothing.
    private static func sync(_ file: String) throws {
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor(path: file, flags: O_RDONLY)
        } catch let error as SystemError where error.errno == ENOENT {
            return
        }
        try descriptor.sync(path: file)
    }
}

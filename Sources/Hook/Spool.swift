import Foundation
import StorePaths
import SystemSupport

/// Hook requests waiting on disk for the service: one file per request, written whole or not
/// at all, named so that sorting the names sorts them by time.
///
/// `narsync hook` writes here when the service cannot be reached; the service reads the files
/// in order, enqueues their paths and removes them. A file it cannot parse is moved to
/// `rejected/` with a `.reason` file beside it, so a bad file is looked at once, not forever.
public struct Spool: Sendable {
    public let directory: String

    /// Where requests that cannot be parsed are kept for a human to look at.
    public var rejectedDirectory: String { "\(directory)/rejected" }

    public static let defaultDirectory = "/var/lib/narsync/spool"
    static let suffix = ".request"

    public init(directory: String) {
        self.directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
    }

    /// Writes `request` as a new file and returns its path. The directory is created (mode
    /// 0700: requests are only for the service) if it is missing.
    @discardableResult
    public func write(_ request: HookRequest, storeDirectory: StoreDirectory) throws -> String {
        try createDirectories(directory, mode: 0o700)
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        let nanoseconds = UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
        let stamp = String(nanoseconds)
        let random = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        // Fixed-width time first: names sort by time; pid and random keep concurrent hooks apart.
        let name = String(repeating: "0", count: max(0, 20 - stamp.count)) + stamp + "-\(getpid())-\(random)" + Self.suffix
        let path = "\(directory)/\(name)"
        try writeFileAtomically(request.serialized(storeDirectory: storeDirectory), to: path, mode: 0o600, replace: false)
        // Nix runs the hook as root; a service running as its own user owns the spool
        // directory and must be able to read (and remove) what root wrote there.
        var directoryInfo = stat()
        if geteuid() == 0, stat(directory, &directoryInfo) == 0, directoryInfo.st_uid != 0 {
            guard chown(path, directoryInfo.st_uid, directoryInfo.st_gid) == 0 else {
                throw SystemError("cannot give the spooled request to the spool directory's owner", path)
            }
        }
        return path
    }

    /// The names of the requests waiting, oldest first. Temporary files of writers still at
    /// work (or that crashed) are not listed.
    public func pending() throws -> [String] {
        try entries().filter { !$0.hasPrefix(".") && $0.hasSuffix(Self.suffix) }.sorted()
    }

    /// Every name in the spool directory; none if it does not exist yet.
    private func entries() throws -> [String] {
        guard let directoryStream = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw SystemError("cannot list the spool directory", directory)
        }
        defer { closedir(directoryStream) }
        var names: [String] = []
        while let entry = readdir(directoryStream) {
            names.append(withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
        }
        return names
    }

    /// Removes the temporary files of hooks that died while writing (they are never renamed
    /// into requests) once they are older than `age`: a hook writes its file in milliseconds.
    /// Returns the names removed.
    @discardableResult
    public func removeAbandonedTemporaryFiles(olderThan age: Duration = .seconds(600)) -> [String] {
        let cutoff = Date().addingTimeInterval(-age.timeInterval).timeIntervalSince1970
        var removed: [String] = []
        for name in (try? entries()) ?? [] {
            guard name.hasPrefix("."), name.contains(Self.suffix + ".tmp-") else { continue }
            var info = stat()
            let path = "\(directory)/\(name)"
            guard lstat(path, &info) == 0, Double(info.st_mtim.tv_sec) < cutoff, unlink(path) == 0 else { continue }
            removed.append(name)
        }
        return removed
    }

    /// Reads and parses the request `name`.
    /// - Throws: `SpoolError.unreadable` (worth retrying) or `SpoolError.malformed` (not).
    public func read(_ name: String, storeDirectory: StoreDirectory) throws(SpoolError) -> HookRequest {
        let path = "\(directory)/\(name)"
        let bytes: [UInt8]
        do {
            bytes = try Self.readFile(path, limit: HookRequest.maximumSize)
        } catch {
            throw .unreadable(path, "\(error)")
        }
        do {
            return try HookRequest(parsing: bytes, storeDirectory: storeDirectory)
        } catch {
            throw .malformed(path, error)
        }
    }

    /// Removes a request once its paths are queued.
    public func remove(_ name: String) throws {
        guard unlink("\(directory)/\(name)") == 0 || errno == ENOENT else {
            throw SystemError("cannot remove the spooled request", "\(directory)/\(name)")
        }
    }

    /// Moves request `name` to `rejected/`, with `reason` in `rejected/<name>.reason`, and
    /// returns its new path.
    @discardableResult
    public func reject(_ name: String, reason: String) throws -> String {
        try createDirectories(rejectedDirectory, mode: 0o700)
        let target = "\(rejectedDirectory)/\(name)"
        try writeFileAtomically(Array((reason + "\n").utf8), to: target + ".reason", mode: 0o600)
        guard rename("\(directory)/\(name)", target) == 0 else {
            throw SystemError("cannot move the rejected request to", target)
        }
        return target
    }

    /// Reads a whole file of at most `limit` bytes (one more is read to tell a file that is too large).
    static func readFile(_ path: String, limit: Int) throws -> [UInt8] {
        let file = try FileDescriptor(path: path, flags: O_RDONLY | O_NOFOLLOW)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while bytes.count <= limit {
            let count = try chunk.withUnsafeMutableBytes { try file.read(into: $0, path: path) }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return bytes
    }
}

/// Why a spooled request was not used.
public enum SpoolError: Error, CustomStringConvertible, Sendable {
    /// The file could not be read; it stays in the spool and is tried again later.
    case unreadable(String, String)
    /// The file is not a complete request; it is moved to `rejected/`.
    case malformed(String, HookRequestError)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read spooled request \(path): \(reason)"
        case .malformed(let path, let error): "spooled request \(path) is not usable: \(error)"
        }
    }
}

/// Creates `path` with `mode`, and missing parents with mode 0755, as `mkdir -p` would.
func createDirectories(_ path: String, mode: mode_t) throws {
    if mkdir(path, mode) == 0 || errno == EEXIST { return }
    let parent = (path as NSString).deletingLastPathComponent
    guard errno == ENOENT, !parent.isEmpty, parent != path else { throw SystemError("cannot create the directory", path) }
    try createDirectories(parent, mode: 0o755)
    guard mkdir(path, mode) == 0 || errno == EEXIST else { throw SystemError("cannot create the directory", path) }
}

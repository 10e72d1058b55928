import CSystemCalls
import Foundation

/// A file that becomes visible under its final name only when complete.
///
/// Bytes go to a temporary name in the same directory; `commit` fsyncs the file, renames it over
/// the final name and fsyncs the directory, so after a crash a reader sees either nothing or the
/// whole file, never a truncated one. `abort` (or dropping the writer) removes the temporary.
public final class AtomicFileWriter: @unchecked Sendable {
    public let path: String
    /// The directory `path` is in, whose fsync makes the rename durable.
    public let directory: String
    private let temporaryPath: String
    private let file: FileDescriptor
    private var isFinished = false

    /// Creates the temporary file next to `path` with `mode`.
    public init(path: String, mode: mode_t = 0o644) throws {
        self.path = path
        let (directory, base) = splitPath(path)
        self.directory = directory
        temporaryPath = "\(directory)/.\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        file = try FileDescriptor(path: temporaryPath, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        // open(2) applies the umask; the caller's mode is meant exactly (0600 for secret keys).
        guard fchmod(file.rawValue, mode) == 0 else { throw SystemError("cannot set mode of", temporaryPath) }
    }

    deinit { if !isFinished { abort() } }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try file.writeAll(bytes, path: temporaryPath)
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// fsyncs what was written so far, for a caller that commits with `durable: false`.
    public func sync() throws {
        try file.sync(path: temporaryPath)
    }

    /// Makes the file visible under its final name. With `replace: false`, an existing file
    /// there is left alone and `SystemError` with `EEXIST` is thrown.
    ///
    /// With `durable: false` the file is renamed without fsyncing it or its directory: the
    /// caller makes them durable later (each with `sync()` before the commit, or many at once
    /// with `FileSystemSync`), before anything that names them becomes visible.
    public func commit(replace: Bool = true, durable: Bool = true) throws {
        if durable { try file.sync(path: temporaryPath) }
        file.close()
        if replace {
            guard rename(temporaryPath, path) == 0 else {
                let error = SystemError("cannot rename to", path)
                abort()
                throw error
            }
        } else {
            // link(2) fails with EEXIST instead of replacing, which rename(2) cannot do.
            guard link(temporaryPath, path) == 0 else {
                let error = SystemError("cannot create", path)
                abort()
                throw error
            }
            unlink(temporaryPath)
        }
        isFinished = true
        if durable { try syncDirectory(directory) }
    }

    /// Removes the temporary file; the final name is untouched.
    public func abort() {
        isFinished = true
        file.close()
        unlink(temporaryPath)
    }
}

/// fsyncs `directory`, so that the renames in it survive a crash.
public func syncDirectory(_ directory: String) throws {
    let descriptor = try FileDescriptor(path: directory.isEmpty ? "." : directory, flags: O_RDONLY | O_DIRECTORY)
    try descriptor.sync(path: directory)
}

/// `path`'s directory and last component, as NSString's `deletingLastPathComponent` and
/// `lastPathComponent` give them for the plain paths narsync makes, at a tenth of the cost
/// (publishing small paths splits two a path).
public func splitPath(_ path: String) -> (directory: String, name: String) {
    var trimmed = Substring(path)
    while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return ("", String(trimmed)) }
    var directory = trimmed[..<slash]
    while directory.count > 1, directory.hasSuffix("/") { directory = directory.dropLast() }
    return (directory.isEmpty ? "/" : String(directory), String(trimmed[trimmed.index(after: slash)...]))
}

/// Flushes everything written to the filesystem holding `directory`: file data and metadata
/// alike (`syncfs(2)`), one flush for any number of files.
///
/// Open it once and keep it: the kernel reports a writeback error to `sync` only if it happened
/// while this descriptor was open, so a descriptor opened just before the flush could miss the
/// failed write of a file written earlier.
public final class FileSystemSync: Sendable {
    public let directory: String
    private let descriptor: FileDescriptor

    public init(directory: String) throws {
        self.directory = directory
        descriptor = try FileDescriptor(path: directory, flags: O_RDONLY | O_DIRECTORY)
    }

    public func sync() throws {
        guard retryingOnInterrupt({ narsync_syncfs(descriptor.rawValue) }) == 0 else {
            throw SystemError("cannot flush the filesystem (syncfs) of", directory)
        }
    }
}

/// Writes `bytes` to `path` atomically (see `AtomicFileWriter`).
public func writeFileAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644, replace: Bool = true) throws {
    let writer = try AtomicFileWriter(path: path, mode: mode)
    try writer.write(bytes)
    try writer.commit(replace: replace)
}

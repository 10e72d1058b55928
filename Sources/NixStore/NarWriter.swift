import Glibc
import SystemSupport

/// Serialises a file tree as a NAR (Nix ARchive), byte for byte as `nix-store --dump` does.
///
/// The NAR is streamed: memory use is one buffer of `chunkSize` bytes plus the names of the
/// directories being walked, whatever the size of the files. Regular files keep only their
/// executable bit (the owner's), symlinks are recorded and never followed, directory entries
/// come in bytewise order of their names; any other kind of file is an error naming it.
///
/// This does blocking file I/O: run it on a dedicated thread, never on the cooperative pool.
public struct NarWriter: Sendable {
    /// The physical path of the tree on disk (for a chroot store, `<root>/nix/store/<path>`).
    public let root: String
    /// The largest chunk handed to the sink, and the size of the one buffer this uses.
    public let chunkSize: Int

    public init(root: String, chunkSize: Int = 256 * 1024) {
        precondition(chunkSize > 0, "NarWriter needs a positive chunk size")
        self.root = root
        self.chunkSize = chunkSize
    }

    /// Streams the NAR of the tree at `root` into `sink` in chunks of at most `chunkSize` bytes.
    ///
    /// The chunk passed to `sink` is only valid during the call. An error from `sink` stops
    /// the walk and is rethrown.
    /// - Throws: `NarError` for a file a NAR cannot hold or that shrinks while being read,
    ///   `SystemError` (naming the file) for a file that cannot be read.
    public func write(to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try withoutActuallyEscaping(sink) { sink in
            let output = NarOutputBuffer(capacity: chunkSize, sink: sink)
            try output.append(NarToken.magic)
            try Self.dump(directory: AT_FDCWD, name: Array(root.utf8) + [0], path: root, into: output)
            try output.flush()
        }
    }

    /// The NAR's SHA-256 and size, as Nix records them for a store path (`narHash`, `narSize`).
    public func hashAndSize() throws -> (narHash: NixHash, narSize: UInt64) {
        let hasher = SHA256Hasher()
        var size: UInt64 = 0
        try write { chunk in
            hasher.update(chunk)
            size += UInt64(chunk.count)
        }
        return (NixHash(hasher.finalize()), size)
    }

    /// Writes the node `name` (NUL-terminated) found in the open directory `directory`.
    private static func dump(directory: Int32, name: [UInt8], path: String, into output: NarOutputBuffer) throws {
        var info = stat()
        let status = name.withUnsafeBufferPointer { fstatat(directory, cString($0), &info, AT_SYMLINK_NOFOLLOW) }
        guard status == 0 else { throw SystemError("cannot stat", path) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: try dumpRegularFile(directory: directory, name: name, path: path, into: output)
        case S_IFDIR: try dumpDirectory(directory: directory, name: name, path: path, into: output)
        case S_IFLNK: try dumpSymlink(directory: directory, name: name, size: Int(info.st_size), path: path, into: output)
        default: throw NarError.unsupportedFileType(path: path)
        }
    }

    private static func dumpRegularFile(directory: Int32, name: [UInt8], path: String, into output: NarOutputBuffer) throws {
        // O_NOFOLLOW and O_NONBLOCK: if the file was swapped for a symlink or a FIFO since the
        // stat, opening fails or returns at once instead of following or hanging.
        let descriptor = name.withUnsafeBufferPointer { name in
            retryingOnInterrupt { openat(directory, cString(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC) }
        }
        guard descriptor >= 0 else { throw SystemError("cannot open", path) }
        let file = FileDescriptor(owning: descriptor)
        var info = stat()
        guard fstat(file.rawValue, &info) == 0 else { throw SystemError("cannot stat", path) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw NarError.fileChangedWhileReading(path: path) }
        _ = posix_fadvise(file.rawValue, 0, 0, POSIX_FADV_SEQUENTIAL)

        let size = UInt64(info.st_size)
        try output.append(info.st_mode & S_IXUSR != 0 ? NarToken.executableFile : NarToken.regularFile)
        try output.appendInteger(size)
        try output.appendContents(of: file.rawValue, size: size, path: path)
        try output.appendPadding(afterLength: size)
        try output.append(NarToken.close)
    }

    private static func dumpDirectory(directory: Int32, name: [UInt8], path: String, into output: NarOutputBuffer) throws {
        let descriptor = name.withUnsafeBufferPointer { name in
            retryingOnInterrupt { openat(directory, cString(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        }
        guard descriptor >= 0 else { throw SystemError("cannot open directory", path) }
        guard let stream = fdopendir(descriptor) else {
            let error = SystemError("cannot open directory", path)
            close(descriptor)
            throw error
        }
        defer { closedir(stream) }

        try output.append(NarToken.directory)
        for entry in try sortedEntryNames(stream, path: path) {
            try output.append(NarToken.entryName)
            try entry.withUnsafeBytes { try output.appendString(UnsafeRawBufferPointer(rebasing: $0.dropLast())) }
            try output.append(NarToken.entryNode)
            let entryPath = path + "/" + String(decoding: entry.dropLast(), as: UTF8.self)
            try dump(directory: dirfd(stream), name: entry, path: entryPath, into: output)
            try output.append(NarToken.close)
        }
        try output.append(NarToken.close)
    }

    /// The entries of a directory but `.` and `..`, NUL-terminated, in bytewise order, as Nix
    /// sorts them (std::string comparison, whatever the locale).
    private static func sortedEntryNames(_ stream: OpaquePointer, path: String) throws -> [[UInt8]] {
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                guard errno == 0 else { throw SystemError("cannot list directory", path) }
                break
            }
            let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
            let name = UnsafeRawPointer(entry).advanced(by: offset).assumingMemoryBound(to: CChar.self)
            let length = strlen(name)
            // A name's bytes plus its NUL, so that openat() can use it as it is.
            let bytes = Array(UnsafeRawBufferPointer(start: name, count: length + 1))
            if bytes == [0x2e, 0] || bytes == [0x2e, 0x2e, 0] { continue }
            names.append(bytes)
        }
        // The NUL sorts below every byte, so a name sorts before the longer names it prefixes.
        names.sort { $0.lexicographicallyPrecedes($1) }
        return names
    }

    private static func dumpSymlink(directory: Int32, name: [UInt8], size: Int, path: String, into output: NarOutputBuffer) throws {
        // st_size is the target's length, but it may change under us: read until it fits.
        var capacity = max(size + 1, 256)
        while true {
            var target = [UInt8](repeating: 0, count: capacity)
            let length = name.withUnsafeBufferPointer { nameBuffer in
                target.withUnsafeMutableBytes { targetBuffer in
                    readlinkat(directory, cString(nameBuffer), targetBuffer.baseAddress!.assumingMemoryBound(to: CChar.self), capacity)
                }
            }
            guard length >= 0 else { throw SystemError("cannot read symlink", path) }
            if length < capacity {
                try output.append(NarToken.symlinkTarget)
                try target.withUnsafeBytes { try output.appendString(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
                try output.append(NarToken.close)
                return
            }
            capacity *= 2
        }
    }

    private static func cString(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafePointer<CChar> {
        UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
    }
}

/// A file tree that cannot become a NAR, with the file at fault.
public enum NarError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A socket, FIFO or device: a NAR holds only regular files, directories and symlinks.
    case unsupportedFileType(path: String)
    /// The file ended before the size it had when the NAR recorded it, or stopped being a
    /// regular file: something is writing to the tree.
    case fileChangedWhileReading(path: String)

    public var description: String {
        switch self {
        case .unsupportedFileType(let path):
            "'\(path.debugQuoted)' is not a regular file, directory or symlink (a socket, FIFO or device?); a NAR cannot hold it, so its store path cannot be serialised"
        case .fileChangedWhileReading(let path):
            "'\(path.debugQuoted)' changed while it was being read; store paths must not be modified (run `nix-store --verify --check-contents`)"
        }
    }
}

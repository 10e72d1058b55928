import Foundation
import SystemSupport

extension FileDestination: CacheMaintenance {
    /// The top directory (narinfos, `nix-cache-info`) and `nar/`, with `stat` sizes and mtimes;
    /// temporary files of writes under way are left out (see `incompleteUploads`).
    public func listObjects() throws -> [StoredObject]? {
        try entries().filter { !$0.isTemporary }.map(\.object)
    }

    public func objectInfo(key: String) throws -> StoredObject? {
        var info = stat()
        guard stat(path(of: key), &info) == 0 else {
            if errno == ENOENT { return nil }
            throw SystemError("cannot stat", path(of: key))
        }
        return StoredObject(key: key, size: UInt64(info.st_size), modified: info.modificationDate)
    }

    public func readRange(key: String, offset: UInt64, length: Int) throws -> [UInt8]? {
        let descriptor = open(path(of: key), O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw SystemError("cannot open", path(of: key))
        }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: length)
        var filled = 0
        while filled < length {
            let count = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + filled, length - filled, off_t(offset) + off_t(filled))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError("cannot read", path(of: key))
            }
            if count == 0 { break }
            filled += count
        }
        bytes.removeLast(length - filled)
        return bytes
    }

    public func delete(key: String) throws {
        guard unlink(path(of: key)) == 0 || errno == ENOENT else { throw SystemError("cannot remove", path(of: key)) }
    }

    public func renew(key: String) throws -> Bool {
        // utimensat with a null time sets both times to now.
        guard utimensat(AT_FDCWD, path(of: key), nil, 0) == 0 else {
            if errno == ENOENT { return false }
            throw SystemError("cannot touch", path(of: key))
        }
        return true
    }

    /// Temporary files (`.<name>.tmp-<pid>-<n>`) left by writes that never finished.
    public func incompleteUploads() throws -> [IncompleteUpload] {
        try entries().filter(\.isTemporary).map { entry in
            // `nar/.<name>.tmp-<pid>-<n>` would become `nar/<name>`.
            let key = entry.object.key
            let slash = key.lastIndex(of: "/").map { key.index(after: $0) } ?? key.startIndex
            let temporaryName = key[slash...].dropFirst()
            let finalName = temporaryName.range(of: ".tmp-").map { temporaryName[..<$0.lowerBound] } ?? temporaryName
            return IncompleteUpload(
                key: String(key[..<slash]) + finalName, id: key, started: entry.object.modified, size: entry.object.size)
        }
    }

    public func abort(_ upload: IncompleteUpload) throws {
        try delete(key: upload.id)
    }

    private func entries() throws -> [(object: StoredObject, isTemporary: Bool)] {
        var found: [(StoredObject, Bool)] = []
        for prefix in ["", "nar/"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path(of: prefix))) ?? []
            for name in names {
                var info = stat()
                guard lstat(path(of: prefix + name), &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
                let object = StoredObject(key: prefix + name, size: UInt64(info.st_size), modified: info.modificationDate)
                found.append((object, name.hasPrefix(".") && name.contains(".tmp-")))
            }
        }
        return found
    }
}

extension stat {
    var modificationDate: Date {
        Date(timeIntervalSince1970: TimeInterval(st_mtim.tv_sec) + TimeInterval(st_mtim.tv_nsec) / 1e9)
    }
}

import Foundation
import SystemSupport

/// A binary cache in a local directory (`file:///srv/cache`), as Nix's `file://` store lays it out.
///
/// Every object is written to a temporary name in its directory and renamed, so readers never
/// see half an object. Durability comes in groups, so that a power loss never leaves a narinfo
/// naming a NAR that was lost: a NAR is renamed into place unflushed (alone it announces
/// nothing); a group of narinfos is written to temporary files, which are flushed with every
/// NAR before them (`FlushBarrier`: one by one if they are few, with one `syncfs(2)` if many),
/// and only then renamed, in order, and their directory fsynced. Nix's own `file://` store
/// flushes nothing.
public struct FileDestination: BinaryCacheDestination {
    public let directory: String
    private let barrier: FlushBarrier

    /// Uses `directory`, creating it if needed.
    /// - Throws: `DestinationError.notWritable` if it cannot be created or written to.
    public init(directory: String) throws {
        self.directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        do {
            try FileManager.default.createDirectory(atPath: self.directory + "/nar", withIntermediateDirectories: true)
        } catch {
            throw DestinationError.notWritable(destination: "file://\(self.directory)", reason: "\(error.localizedDescription)")
        }
        guard access(self.directory, W_OK) == 0, access(self.directory + "/nar", W_OK) == 0 else {
            throw DestinationError.notWritable(destination: "file://\(self.directory)", reason: String(cString: strerror(errno)))
        }
        do {
            barrier = try FlushBarrier(directory: self.directory)
        } catch {
            throw DestinationError.notWritable(destination: "file://\(self.directory)", reason: "\(error)")
        }
    }

    public var description: String { "file://\(directory)" }

    public var identity: DestinationIdentity { .file(directory: directory) }

    /// The directory a `file:///dir` URL names. Nix's file:// store parameters (compression=,
    /// secret-key=) are narsync options and are left out.
    static func directory(of url: String) throws -> String {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "file",
              components.host?.isEmpty ?? true, !components.path.isEmpty else {
            throw DestinationError.unsupportedURL(url)
        }
        return components.percentEncodedPath.removingPercentEncoding ?? components.path
    }

    public func exists(key: String) throws -> Bool {
        var info = stat()
        if stat(path(of: key), &info) == 0 { return true }
        guard errno == ENOENT else { throw SystemError("cannot check", path(of: key)) }
        return false
    }

    public func read(key: String) throws -> [UInt8]? {
        guard try exists(key: key) else { return nil }
        guard let data = FileManager.default.contents(atPath: path(of: key)) else {
            throw SystemError("cannot read", path(of: key))
        }
        return Array(data)
    }

    public func put(key: String, contents: [UInt8], contentType: String) throws {
        try putGroup([SmallObject(key: key, contents: contents, contentType: contentType)])
    }

    public func putGroup(_ objects: [SmallObject]) throws {
        var writers: [AtomicFileWriter] = []
        for object in objects {
            let writer = try AtomicFileWriter(path: try creatingParent(of: object.key))
            try writer.write(object.contents)
            writers.append(writer)
        }
        // The NARs committed before and the new files' contents, durable before any is named.
        try barrier.flush(writers)
        for writer in writers { try writer.commit(durable: false) }
        for directory in Set(writers.map(\.directory)) { try syncDirectory(directory) }
    }

    public var commitsInGroups: Bool { true }

    public func beginUpload(key: String, contentType: String, journal: (any UploadJournal)?) throws -> any ObjectUpload {
        FileUpload(writer: try AtomicFileWriter(path: try creatingParent(of: key)), barrier: barrier)
    }

    public func listKeys(suffix: String) throws -> Set<String>? {
        // narinfo files live at the top of the cache; that is the only listing narsync asks for.
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        return Set(names.filter { $0.hasSuffix(suffix) && !$0.hasPrefix(".") })
    }

    private func path(of key: String) -> String { "\(directory)/\(key)" }

    private func creatingParent(of key: String) throws -> String {
        let full = path(of: key)
        let parent = splitPath(full).directory
        if parent != directory { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        return full
    }
}

private final class FileUpload: ObjectUpload {
    let writer: AtomicFileWriter
    let barrier: FlushBarrier
    init(writer: AtomicFileWriter, barrier: FlushBarrier) {
        self.writer = writer
        self.barrier = barrier
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws { try writer.write(bytes) }
    /// Unflushed: the next `putGroup` makes it durable before a narinfo can name it.
    func commit() throws {
        try writer.commit(durable: false)
        barrier.committed(writer.path)
    }
    func abort() { writer.abort() }
}

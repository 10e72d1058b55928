import Glibc
import SystemSupport

/// The bytes of a NAR on their way to the sink.
///
/// NAR tokens are encoded straight into one reusable buffer and file contents are `read(2)`
/// into the same buffer, so the sink sees few large chunks (each exactly `capacity` bytes but
/// the last), small tokens cost no call each, and no byte is copied twice.
final class NarOutputBuffer {
    private let storage: UnsafeMutableRawBufferPointer
    private var count = 0
    private let sink: (UnsafeRawBufferPointer) throws -> Void

    init(capacity: Int, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        precondition(capacity > 0, "a NAR chunk must hold at least one byte")
        storage = .allocate(byteCount: capacity, alignment: 16)
        self.sink = sink
    }

    deinit { storage.deallocate() }

    private var freeSpace: Int { storage.count - count }

    /// Hands whatever is buffered to the sink.
    func flush() throws {
        guard count > 0 else { return }
        try sink(UnsafeRawBufferPointer(rebasing: storage[..<count]))
        count = 0
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            if freeSpace == 0 { try flush() }
            let length = min(freeSpace, bytes.count - offset)
            (storage.baseAddress! + count).copyMemory(from: bytes.baseAddress! + offset, byteCount: length)
            count += length
            offset += length
        }
    }

    /// Bytes already in NAR encoding, such as the precomputed token sequences of `NarToken`.
    func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// A NAR integer: 64 bits, little-endian.
    func appendInteger(_ value: UInt64) throws {
        if freeSpace >= 8 {
            storage.storeBytes(of: value.littleEndian, toByteOffset: count, as: UInt64.self)
            count += 8
        } else {
            try withUnsafeBytes(of: value.littleEndian) { try append($0) }
        }
    }

    /// A NAR string: its length, its bytes, then zeros up to a multiple of 8 bytes.
    func appendString(_ bytes: UnsafeRawBufferPointer) throws {
        try appendInteger(UInt64(bytes.count))
        try append(bytes)
        try appendPadding(afterLength: UInt64(bytes.count))
    }

    func appendPadding(afterLength length: UInt64) throws {
        let padding = Int((8 - length % 8) % 8)
        guard padding > 0 else { return }
        try withUnsafeBytes(of: UInt64(0)) { try append(UnsafeRawBufferPointer(rebasing: $0[..<padding])) }
    }

    /// Reads exactly `size` bytes of the open file `file` into the stream, in reads as large as
    /// the free buffer space.
    /// - Throws: `NarError.fileChangedWhileReading` if the file ends early.
    func appendContents(of file: Int32, size: UInt64, path: String) throws {
        var remaining = size
        while remaining > 0 {
            if freeSpace == 0 { try flush() }
            let wanted = Int(min(UInt64(freeSpace), remaining))
            let received = retryingOnInterrupt { read(file, storage.baseAddress! + count, wanted) }
            guard received >= 0 else { throw SystemError("cannot read", path) }
            guard received > 0 else { throw NarError.fileChangedWhileReading(path: path) }
            count += received
            remaining -= UInt64(received)
        }
    }
}

/// The fixed token sequences of a NAR (Nix's libutil/archive.cc), encoded once.
enum NarToken {
    static let magic = encode("nix-archive-1")
    static let regularFile = encode("(", "type", "regular", "contents")
    static let executableFile = encode("(", "type", "regular", "executable", "", "contents")
    static let directory = encode("(", "type", "directory")
    static let entryName = encode("entry", "(", "name")
    static let entryNode = encode("node")
    static let symlinkTarget = encode("(", "type", "symlink", "target")
    static let close = encode(")")

    private static func encode(_ strings: String...) -> [UInt8] {
        var out = [UInt8]()
        for string in strings {
            let bytes = Array(string.utf8)
            withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: bytes)
            out.append(contentsOf: repeatElement(0, count: (8 - bytes.count % 8) % 8))
        }
        return out
    }
}

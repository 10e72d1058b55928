import Glibc

/// One inotify event: what happened (`IN_*` bits) to which file of the watched directory.
public struct InotifyEvent: Equatable, Sendable {
    public var mask: UInt32
    /// The file's name in the directory; empty for events about the directory itself.
    public var name: String

    public init(mask: UInt32, name: String) {
        self.mask = mask
        self.name = name
    }

    public func has(_ bit: Int32) -> Bool { mask & UInt32(bitPattern: bit) != 0 }
}

/// An inotify instance watching one directory, read without blocking.
public final class InotifyWatch: @unchecked Sendable {
    public let directory: String
    /// Becomes readable (for poll(2)) when events are queued.
    public let descriptor: FileDescriptor
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    public init(directory: String, mask: Int32) throws {
        self.directory = directory
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw SystemError("cannot create an inotify instance to watch", directory) }
        descriptor = FileDescriptor(owning: fd)
        guard inotify_add_watch(fd, directory, UInt32(bitPattern: mask)) >= 0 else {
            throw SystemError("cannot watch (inotify)", directory)
        }
    }

    /// The events queued now; empty when there are none.
    public func readEvents() throws -> [InotifyEvent] {
        var events: [InotifyEvent] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor.rawValue, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return events }
                throw SystemError("cannot read inotify events for", directory)
            }
            buffer.withUnsafeBytes { events += Self.parse(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
    }

    /// Splits what read(2) returned into events: `struct inotify_event` headers (wd, mask,
    /// cookie, len), each followed by `len` bytes of NUL-padded name.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> [InotifyEvent] {
        let headerSize = 16
        var events: [InotifyEvent] = []
        var offset = 0
        while offset + headerSize <= bytes.count {
            let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let nameLength = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            let nameStart = offset + headerSize
            let nameEnd = min(nameStart + nameLength, bytes.count)
            let nameBytes = bytes[nameStart..<nameEnd].prefix { $0 != 0 }
            events.append(InotifyEvent(mask: mask, name: String(decoding: nameBytes, as: UTF8.self)))
            offset = nameStart + nameLength
        }
        return events
    }
}

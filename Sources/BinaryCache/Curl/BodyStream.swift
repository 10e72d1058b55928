import Foundation

/// Bytes handed from an uploading thread to curl as they are produced, for a request body of
/// unknown length. At most `capacity` bytes wait in between: a writer blocks until curl has
/// sent enough of them.
final class BodyStream: @unchecked Sendable {
    let capacity: Int
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var readOffset = 0
    private var isFinished = false
    private var closedEarly = false
    /// Called after bytes arrive, so that the driver resumes a transfer it paused for lack of them.
    private var onReadable: (@Sendable () -> Void)?

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Appends bytes, blocking while `capacity` bytes wait. Returns false if the request
    /// already ended, in which case the bytes go nowhere.
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            condition.lock()
            while pending.count - readOffset >= capacity && !closedEarly { condition.wait() }
            if closedEarly {
                condition.unlock()
                return false
            }
            let count = min(bytes.count - offset, capacity - (pending.count - readOffset))
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]))
            offset += count
            let wake = onReadable
            condition.unlock()
            wake?()
        }
        return true
    }

    /// No more bytes will come: curl ends the body once it has sent what waits.
    func finish() {
        condition.lock()
        isFinished = true
        let wake = onReadable
        condition.unlock()
        wake?()
    }

    /// The request ended (or was abandoned): wakes and refuses a blocked writer.
    func close() {
        condition.lock()
        closedEarly = true
        condition.broadcast()
        condition.unlock()
    }

    func setOnReadable(_ callback: @escaping @Sendable () -> Void) {
        condition.lock()
        onReadable = callback
        condition.unlock()
    }

    /// Whether `read` has something to return: bytes, or the end.
    var isReadable: Bool {
        condition.lock()
        defer { condition.unlock() }
        return pending.count > readOffset || isFinished
    }

    /// Copies waiting bytes into `buffer`: their count, 0 at the end of the body, or nil when
    /// none are there yet.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        condition.lock()
        defer { condition.unlock() }
        let available = pending.count - readOffset
        if available == 0 { return isFinished ? 0 : nil }
        let count = min(available, buffer.count)
        pending.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[readOffset..<readOffset + count]))
        }
        readOffset += count
        if readOffset == pending.count {
            pending.removeAll(keepingCapacity: true)
            readOffset = 0
        } else if readOffset > capacity / 2 {
            pending.removeFirst(readOffset)
            readOffset = 0
        }
        condition.broadcast()
        return count
    }
}

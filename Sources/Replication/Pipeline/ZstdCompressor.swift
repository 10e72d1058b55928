import CZstd

/// Streaming zstd compression with libzstd's own worker threads.
///
/// With `workers > 0` libzstd compresses blocks on its threads while the caller keeps reading
/// and hashing the NAR, which is where most of narsync's throughput over `nix copy` comes from.
/// zstd's output is deterministic for the same level and the same choice of zero or non-zero
/// workers, whatever their number, so a resumed upload can recompress and skip stored parts.
/// Memory is bounded by libzstd's job buffers (a few window sizes per worker), not the input.
///
/// With a `frameSize`, the output is a series of independent frames of that much input each
/// (the last one shorter), as Nix 2.35 writes them, so that a client can decompress them in
/// parallel; any zstd decoder reads them one after the other as one stream. Frame boundaries
/// depend only on the offset in the input, and without workers the frames are the same bytes
/// every time; with workers, a frame ended mid-stream can differ from run to run (libzstd's
/// jobs around the end depend on timing), so `NarUploader` writes one frame.
public final class ZstdCompressor {
    private let context: OpaquePointer
    private var output: [UInt8]
    private static let jobSize: Int32 = 1 << 20
    private let frameSize: UInt64?
    /// Input bytes the current frame still takes before the next one starts.
    private var frameRemaining: UInt64 = 0
    /// Input bytes still expected when the size is known; frames pledge their share of them.
    private var remainingSize: UInt64?

    /// - Parameters:
    ///   - level: 1 (fast) to 19 (small); Nix's default for zstd is 3.
    ///   - workers: libzstd worker threads; 0 compresses on the calling thread.
    ///   - size: the input's size if known. libzstd then sizes its window and tables to the
    ///     input (a 16 KiB NAR needs kilobytes, not the 2 MiB window and the 768 KiB of tables
    ///     it clears for an input of unknown size), and refuses input of any other size.
    ///   - frameSize: input bytes per independent frame; nil writes one frame.
    public init(level: Int32 = 3, workers: Int32 = 0, size: UInt64? = nil, frameSize: Int? = nil) throws {
        guard let context = ZSTD_createCCtx() else { throw ZstdError(operation: "create a compression context", code: 0) }
        self.context = context
        output = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        self.frameSize = frameSize.map { UInt64(max(1, $0)) }
        remainingSize = size
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "set the compression level \(level)")
        if workers > 0 {
            try check(ZSTD_CCtx_setParameter(context, ZSTD_c_nbWorkers, workers), "start \(workers) zstd worker threads")
            // libzstd's default job (4 windows, 8 MiB at level 3) costs ~40 MiB per worker in
            // buffers; 1 MiB jobs keep a 1 GiB NAR under 50 MiB of RSS at the same ratio and speed.
            try check(ZSTD_CCtx_setParameter(context, ZSTD_c_jobSize, Self.jobSize), "set the zstd job size")
        }
        try startFrame()
    }

    /// Starts a frame: pledges its size if the input's is known. After a frame's end, libzstd
    /// keeps every parameter but the pledge.
    private func startFrame() throws {
        frameRemaining = frameSize ?? .max
        guard let remainingSize else { return }
        let pledge = min(frameSize ?? .max, remainingSize)
        try check(ZSTD_CCtx_setPledgedSrcSize(context, pledge), "expect \(pledge) bytes")
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Compresses `input`, passing compressed bytes to `sink` as libzstd produces them.
    public func compress(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var offset = 0
        while offset < input.count {
            // A new frame starts with the first byte past the last one's share, never empty.
            if frameRemaining == 0 {
                // libzstd takes a pledge of 0 as "unknown": input past the size is refused here.
                if remainingSize == 0 { throw ZstdError.wrongSize }
                try endFrame(into: sink)
                try startFrame()
            }
            let count = Int(min(UInt64(input.count - offset), frameRemaining))
            var inBuffer = ZSTD_inBuffer(src: input.baseAddress! + offset, size: count, pos: 0)
            while inBuffer.pos < inBuffer.size {
                try step(&inBuffer, ZSTD_e_continue, sink)
            }
            offset += count
            frameRemaining -= UInt64(count)
            // More input than the size given goes on into the last frame, whose pledge refuses it.
            remainingSize = remainingSize.map { $0 - min($0, UInt64(count)) }
        }
    }

    /// Ends the output: flushes everything buffered to `sink`.
    public func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try endFrame(into: sink)
        // The last frame may have had all it pledged while frames after it were still due.
        if let remainingSize, remainingSize > 0 { throw ZstdError.wrongSize }
    }

    private func endFrame(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var inBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while try step(&inBuffer, ZSTD_e_end, sink) != 0 {}
    }

    /// One call of ZSTD_compressStream2; returns what libzstd says remains to flush.
    @discardableResult
    private func step(_ inBuffer: inout ZSTD_inBuffer, _ directive: ZSTD_EndDirective,
                      _ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try output.withUnsafeMutableBytes { buffer in
            var outBuffer = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
            let remaining = ZSTD_compressStream2(context, &outBuffer, &inBuffer, directive)
            try check(remaining, "compress")
            if outBuffer.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: buffer[..<outBuffer.pos])) }
            return remaining
        }
    }

    private func check(_ code: Int, _ operation: String) throws {
        if ZSTD_isError(code) != 0 { throw ZstdError(operation: operation, code: code) }
    }
}

public struct ZstdError: Error, CustomStringConvertible {
    public var operation: String
    public var code: Int

    /// Not the size given to `ZstdCompressor.init`, as libzstd says it.
    static let wrongSize = ZstdError(operation: "compress", code: -Int(ZSTD_error_srcSize_wrong.rawValue))

    /// The input was not of the size given to `ZstdCompressor.init`.
    public var isWrongSize: Bool { code != 0 && ZSTD_getErrorCode(code) == ZSTD_error_srcSize_wrong }

    public var description: String {
        "zstd could not \(operation): \(code == 0 ? "out of memory" : String(cString: ZSTD_getErrorName(code)))"
    }
}

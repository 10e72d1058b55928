import BinaryCache
import CZstd
import NixStore

/// Downloads a NAR piece by piece, decompresses and hashes it, and compares it with its
/// narinfo: `FileHash`/`FileSize` over the compressed bytes, `NarHash`/`NarSize` over the
/// NAR. Memory stays at one piece plus the decompressor's window, whatever the NAR's size.
/// Blocking: run it on an executor.
struct NarContentCheck {
    static let pieceSize = 1 << 20
    let destination: any CacheMaintenance

    /// Compressions narsync can decompress.
    static func canCheck(_ compression: String) -> Bool { compression == "zstd" || compression == "none" }

    /// What differs, or nil if the NAR matches its narinfo.
    func mismatch(of narInfo: NarInfo) throws -> String? {
        let fileHasher = SHA256Hasher(), narHasher = SHA256Hasher()
        var fileSize: UInt64 = 0, narSize: UInt64 = 0
        let decompressor = narInfo.compression == "zstd" ? try ZstdStream() : nil
        func takeNar(_ bytes: UnsafeRawBufferPointer) {
            narHasher.update(bytes)
            narSize += UInt64(bytes.count)
        }
        while true {
            guard let piece = try destination.readRange(key: narInfo.url, offset: fileSize, length: Self.pieceSize) else {
                return "\(narInfo.url) is missing"
            }
            if piece.isEmpty { break }
            fileSize += UInt64(piece.count)
            try piece.withUnsafeBytes { bytes in
                fileHasher.update(bytes)
                if let decompressor { try decompressor.decompress(bytes, into: takeNar) } else { takeNar(bytes) }
            }
            if piece.count < Self.pieceSize { break }
        }
        if let decompressor, !decompressor.isAtFrameEnd { return "\(narInfo.url) ends in the middle of its zstd frame (truncated?)" }
        var differences: [String] = []
        if let expected = narInfo.fileSize, expected != fileSize { differences.append("FileSize \(expected), file has \(fileSize) bytes") }
        let fileHash = NixHash(fileHasher.finalize())
        if let expected = narInfo.fileHash, expected != fileHash { differences.append("FileHash \(expected.nix32), file hashes to \(fileHash.nix32)") }
        if narInfo.narSize != narSize { differences.append("NarSize \(narInfo.narSize), NAR has \(narSize) bytes") }
        let narHash = NixHash(narHasher.finalize())
        if narInfo.narHash != narHash { differences.append("NarHash \(narInfo.narHash.nix32), NAR hashes to \(narHash.nix32)") }
        return differences.isEmpty ? nil : differences.joined(separator: "; ")
    }
}

/// Streaming zstd decompression (ZSTD_decompressStream), output handed on in pieces.
final class ZstdStream {
    private let context: OpaquePointer
    private var output: [UInt8]
    /// What the last call returned: 0 when a frame has just ended.
    private var lastHint = 1

    init() throws {
        guard let context = ZSTD_createDCtx() else { throw ZstdError(operation: "create a decompression context", code: 0) }
        self.context = context
        output = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
    }

    deinit { ZSTD_freeDCtx(context) }

    var isAtFrameEnd: Bool { lastHint == 0 }

    func decompress(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        repeat {
            let produced: Int = try output.withUnsafeMutableBytes { buffer in
                var outBuffer = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
                let hint = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
                if ZSTD_isError(hint) != 0 { throw ZstdError(operation: "decompress", code: hint) }
                lastHint = hint
                if outBuffer.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: buffer[..<outBuffer.pos])) }
                return outBuffer.pos
            }
            // Output may remain buffered inside libzstd when the output buffer was filled.
            if inBuffer.pos == inBuffer.size && produced < output.count { break }
        } while true
    }
}

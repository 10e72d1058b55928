import CZstd
import Foundation
import Testing
@testable import Replication

@Suite struct ZstdCompressorTests {
    private func compress(_ input: [UInt8], chunk: Int, level: Int32 = 3, workers: Int32, size: UInt64? = nil,
                          frameSize: Int? = nil) throws -> [UInt8] {
        let compressor = try ZstdCompressor(level: level, workers: workers, size: size, frameSize: frameSize)
        var output: [UInt8] = []
        for start in stride(from: 0, to: input.count, by: chunk) {
            try input[start..<min(input.count, start + chunk)].withUnsafeBytes { bytes in
                try compressor.compress(bytes) { output.append(contentsOf: $0) }
            }
        }
        try compressor.finish { output.append(contentsOf: $0) }
        return output
    }

    private func decompress(_ frame: [UInt8], size: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: size + 1)
        let written = output.withUnsafeMutableBytes { out in
            frame.withUnsafeBytes { ZSTD_decompress(out.baseAddress, out.count, $0.baseAddress, $0.count) }
        }
        #expect(ZSTD_isError(written) == 0)
        return Array(output.prefix(written))
    }

    private func sample(_ size: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        // Half random, half repetitive: compressible, but not trivially.
        return (0..<size).map { $0 % 2 == 0 ? UInt8($0 / 7 % 251) : UInt8.random(in: 0...3, using: &generator) }
    }

    @Test(arguments: [0, 2] as [Int32])
    func roundTripsThroughLibzstd(workers: Int32) throws {
        let input = sample(3 << 20)
        let frame = try compress(input, chunk: 100_000, workers: workers)
        #expect(frame.count < input.count)
        #expect(decompress(frame, size: input.count) == input)
    }

    @Test func emptyInputIsAValidFrame() throws {
        let frame = try compress([], chunk: 1, workers: 0)
        #expect(decompress(frame, size: 0).isEmpty)
    }

    /// Resuming an upload relies on this: the same bytes and settings give the same frame,
    /// whatever the chunking and the number of worker threads.
    @Test func outputIsDeterministicForTheSameSettings() throws {
        let input = sample(5 << 20)
        let a = try compress(input, chunk: 65_536, workers: 1)
        let b = try compress(input, chunk: 1_000_003, workers: 3)
        #expect(a == b)
        #expect(try compress(input, chunk: 65_536, workers: 0) == compress(input, chunk: 7_777, workers: 0))
        // With the size given, as NarUploader does, and whatever the worker budget grants.
        let size = UInt64(input.count)
        #expect(try compress(input, chunk: 65_536, workers: 1, size: size) == compress(input, chunk: 1_000_003, workers: 2, size: size))
    }

    /// With the size known (the NAR size in the database), the frame says it, decompresses to
    /// the same bytes, and any other amount of input is refused as the wrong size.
    @Test(arguments: [0, 2] as [Int32])
    func aKnownSizeIsPledgedAndHeldTo(workers: Int32) throws {
        for count in [0, 100, 20_000, 5 << 20] {
            let input = sample(count)
            let frame = try compress(input, chunk: 65_536, workers: workers, size: UInt64(count))
            #expect(frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) } == UInt64(count))
            #expect(decompress(frame, size: count) == input)
        }
        let input = sample(300_000)
        for pledged in [299_999, 300_001] as [UInt64] {
            let error = #expect(throws: ZstdError.self) { try compress(input, chunk: 65_536, workers: workers, size: pledged) }
            #expect(error?.isWrongSize == true, "\(String(describing: error))")
        }
    }

    /// The content sizes of the frames one after the other in `compressed`.
    private func frameContentSizes(_ compressed: [UInt8]) -> [UInt64] {
        compressed.withUnsafeBytes { bytes in
            var sizes: [UInt64] = [], offset = 0
            while offset < bytes.count {
                let frame = ZSTD_findFrameCompressedSize(bytes.baseAddress! + offset, bytes.count - offset)
                guard ZSTD_isError(frame) == 0 else { return sizes + [UInt64.max] }
                sizes.append(ZSTD_getFrameContentSize(bytes.baseAddress! + offset, frame))
                offset += frame
            }
            return sizes
        }
    }

    /// Independent frames of `frameSize` input bytes each, the last one shorter, which any
    /// decoder reads as one stream; with the size given, each frame says its own.
    @Test(arguments: [0, 2] as [Int32])
    func writesIndependentFramesOfTheFrameSize(workers: Int32) throws {
        let frameSize = 1 << 20
        let input = sample(3 * frameSize + 12_345)
        for size in [nil, UInt64(input.count)] {
            let compressed = try compress(input, chunk: 100_003, workers: workers, size: size, frameSize: frameSize)
            let unknown = ZSTD_CONTENTSIZE_UNKNOWN
            let expected: [UInt64] = size == nil ? Array(repeating: unknown, count: 4) : [1 << 20, 1 << 20, 1 << 20, 12_345]
            #expect(frameContentSizes(compressed) == expected)
            #expect(decompress(compressed, size: input.count) == input)
        }
        // An input of exactly whole frames ends without an empty frame; an empty one is one frame.
        let whole = sample(2 * frameSize)
        #expect(frameContentSizes(try compress(whole, chunk: 65_536, workers: workers, size: UInt64(whole.count), frameSize: frameSize)) == [1 << 20, 1 << 20])
        #expect(frameContentSizes(try compress([], chunk: 1, workers: workers, size: 0, frameSize: frameSize)) == [0])
    }

    /// What a resumed upload relies on: the frames are the same bytes whatever the chunking and
    /// the workers granted (from one up), and more or less input than the size given is refused
    /// even when the frames end exactly at it.
    @Test func framesAreDeterministicAndHeldToTheSize() throws {
        let frameSize = 1 << 20
        let input = sample(2 * frameSize + 777)
        let size = UInt64(input.count)
        let one = try compress(input, chunk: 65_536, workers: 1, size: size, frameSize: frameSize)
        #expect(try compress(input, chunk: 1_000_003, workers: 3, size: size, frameSize: frameSize) == one)
        #expect(try compress(input, chunk: 4_096, workers: 0, size: size, frameSize: frameSize)
            == compress(input, chunk: 999_999, workers: 0, size: size, frameSize: frameSize))
        let whole = sample(2 * frameSize)
        for workers in [0, 2] as [Int32] {
            for pledged in [UInt64(whole.count - 1), UInt64(whole.count + 1), UInt64(whole.count - frameSize)] {
                let error = #expect(throws: ZstdError.self) {
                    try compress(whole, chunk: 65_536, workers: workers, size: pledged, frameSize: frameSize)
                }
                #expect(error?.isWrongSize == true, "\(pledged): \(String(describing: error))")
            }
        }
    }
}

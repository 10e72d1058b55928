import Foundation

/// A file tree with every shape a NAR must get right, for comparing narsync with Nix:
/// empty files and files of every size 0...17 bytes (all paddings), one of several MiB,
/// executables (and a file executable by group only, which Nix does not count), relative,
/// absolute, dangling and directory symlinks, an empty directory, deep nesting, and names whose
/// bytewise order differs from a locale's (case, `a` / `a-b` / `a.b`, UTF-8, non-UTF-8 bytes).
public enum FixtureTree {
    /// The size of the large file: several MiB, not a multiple of 8, larger than any buffer.
    public static let largeFileSize = 5 * 1024 * 1024 + 3

    /// Creates the tree at `root` (which must not exist) and returns `root`.
    @discardableResult
    public static func make(at root: String) throws -> String {
        try directory(root)
        try file("\(root)/empty", bytes: [])
        try directory("\(root)/sizes")
        for size in 0...17 {
            try file("\(root)/sizes/size-\(size)", bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ size) })
        }
        try file("\(root)/large", bytes: randomBytes(count: largeFileSize))

        try directory("\(root)/bin")
        try file("\(root)/bin/tool", bytes: Array("#!/bin/sh\necho hi\n".utf8), mode: 0o755)
        try file("\(root)/bin/empty-executable", bytes: [], mode: 0o700)
        try file("\(root)/bin/group-executable-only", bytes: Array("not for the owner".utf8), mode: 0o654)

        try directory("\(root)/links")
        try symlink("\(root)/links/relative", to: "../sizes/size-3")
        try symlink("\(root)/links/absolute", to: "/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-absolute-target")
        try symlink("\(root)/links/dangling", to: "does-not-exist")
        try symlink("\(root)/links/to-directory", to: "../bin")
        try symlink("\(root)/links/long", to: String(repeating: "long-target/", count: 30))

        try directory("\(root)/empty-directory")
        var deep = "\(root)/deep"
        for level in 0..<40 {
            deep += "/level-\(level)"
        }
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        try file("\(deep)/leaf", bytes: Array("bottom".utf8))

        try directory("\(root)/names")
        for name in ["a", "A", "b", "B", "Z", "a-b", "a.b", "a_b", "ab", "a b", "a0", "~", "é", "e", "ä", "z", "日本語", "Ω"] {
            try file("\(root)/names/\(name)", bytes: Array(name.utf8))
        }
        // Not UTF-8 at all: a NAR holds names as bytes.
        try file(bytes: Array("\(root)/names/".utf8) + [0xff, 0xfe, 0x41], contents: [1, 2, 3])
        return root
    }

    private static func randomBytes(count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { buffer in
            for offset in stride(from: 0, to: count - 7, by: 8) {
                buffer.storeBytes(of: generator.next() as UInt64, toByteOffset: offset, as: UInt64.self)
            }
        }
        return bytes
    }

    private static func directory(_ path: String) throws {
        guard mkdir(path, 0o755) == 0 else { throw TestFailure("mkdir \(path): \(String(cString: strerror(errno)))") }
    }

    private static func file(_ path: String, bytes: [UInt8], mode: mode_t = 0o644) throws {
        try file(bytes: Array(path.utf8), contents: bytes, mode: mode)
    }

    /// Creates a file whose path is given as raw bytes (possibly not UTF-8).
    private static func file(bytes path: [UInt8], contents: [UInt8], mode: mode_t = 0o644) throws {
        let descriptor = (path + [0]).withUnsafeBufferPointer { path in
            path.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_EXCL, mode) }
        }
        guard descriptor >= 0 else { throw TestFailure("cannot create fixture file: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let written = contents.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == contents.count, fchmod(descriptor, mode) == 0 else { throw TestFailure("cannot write fixture file") }
    }

    private static func symlink(_ path: String, to target: String) throws {
        guard Foundation.symlink(target, path) == 0 else { throw TestFailure("symlink \(path): \(String(cString: strerror(errno)))") }
    }
}

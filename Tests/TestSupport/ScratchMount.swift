import Foundation

/// A small tmpfs mounted over a directory for one test, to make a disk fill up or turn
/// read-only on purpose. Needs root (CI runs as root); `isPermitted` says whether this machine
/// lets the tests mount, so that suites skip with a reason instead of failing elsewhere.
///
/// Always unmounted when released, even when the test fails half-way.
public final class ScratchMount: @unchecked Sendable {
    public let path: String
    private var mounted = true

    /// Mounts a tmpfs of `size` (mount's syntax: `4m`, `512k`) at `path`, creating the directory.
    public init(tmpfsAt path: String, size: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Subprocess.checked("mount", ["-t", "tmpfs", "-o", "size=\(size),mode=0755", "tmpfs", path])
    }

    /// Binds `path` over itself read-only: paths opened from now on cannot be written, while
    /// files a process opened before keep their access (as the kernel does for a bind mount).
    public init(readOnlyBindOf path: String) throws {
        self.path = path
        try Subprocess.checked("mount", ["--bind", path, path])
        do {
            try Subprocess.checked("mount", ["-o", "remount,bind,ro", path])
        } catch {
            _ = try? Subprocess.run("umount", [path])
            throw error
        }
    }

    deinit { unmount() }

    /// `mount -o remount,<options>`, e.g. `ro`, `rw`, `size=64m`.
    public func remount(_ options: String) throws {
        try Subprocess.checked("mount", ["-o", "remount,\(options)", path])
    }

    /// Unmounts (lazily, so a process still inside cannot keep it); safe to call twice.
    public func unmount() {
        guard mounted else { return }
        mounted = false
        _ = try? Subprocess.run("umount", ["-l", path])
    }

    /// Whether tests may mount here: root, and the kernel (or container) allows a tmpfs.
    public static let isPermitted: Bool = {
        guard getuid() == 0, let directory = try? TemporaryDirectory(prefix: "narsync-mount-probe") else { return false }
        let target = directory.appending("probe")
        guard (try? FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)) != nil,
              let mounted = try? Subprocess.run("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", target]),
              mounted.status == 0 else { return false }
        _ = try? Subprocess.run("umount", [target])
        return true
    }()
}

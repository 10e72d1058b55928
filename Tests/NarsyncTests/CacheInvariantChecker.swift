import BinaryCache
import Foundation

/// Polls a cache while narsync publishes into it and records every moment it announced a path
/// (narinfo present) whose NAR or referenced narinfos were missing.
final class CacheInvariantChecker: @unchecked Sendable {
    /// How the checker reads a cache: a directory, or a bucket through signed requests.
    struct Reader: Sendable {
        var narInfoNames: @Sendable () -> [String]
        var read: @Sendable (_ key: String) -> String?
        var exists: @Sendable (_ key: String) -> Bool

        static func directory(_ path: String) -> Reader {
            Reader(
                narInfoNames: { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".narinfo") } },
                read: { try? String(contentsOfFile: "\(path)/\($0)", encoding: .utf8) },
                exists: { FileManager.default.fileExists(atPath: "\(path)/\($0)") })
        }

        static func destination(_ destination: any BinaryCacheDestination) -> Reader {
            Reader(
                narInfoNames: { ((try? destination.listKeys(suffix: ".narinfo")) ?? nil).map(Array.init) ?? [] },
                read: { ((try? destination.read(key: $0)) ?? nil).map { String(decoding: $0, as: UTF8.self) } },
                exists: { (try? destination.exists(key: $0)) ?? false })
        }
    }

    private let reader: Reader
    /// Whether a narinfo found whole is read again on later passes. Nothing narsync writes is
    /// ever deleted, so a long campaign checks each narinfo once and keeps its passes short.
    private let recheckWholeNarInfos: Bool
    private let lock = NSLock()
    private var running = true
    private var seen = Set<String>()
    private var whole = Set<String>()
    private var passes = 0
    private var found: [String] = []

    /// Whether narinfos may be deleted while the checker polls (a gc runs): a narinfo found
    /// incomplete counts only if it is still there once its missing parts were seen missing,
    /// since one deleted in between may have gone before them, as a gc deletes referrers first.
    private let narInfosMayBeDeleted: Bool

    init(_ reader: Reader, recheckWholeNarInfos: Bool = true, narInfosMayBeDeleted: Bool = false) {
        self.reader = reader
        self.recheckWholeNarInfos = recheckWholeNarInfos
        self.narInfosMayBeDeleted = narInfosMayBeDeleted
    }

    var violations: [String] { lock.withLock { found } }
    var narInfosSeen: Int { lock.withLock { seen.count } }
    /// Times the checker listed the cache and checked what it found.
    var passCount: Int { lock.withLock { passes } }

    /// Polls on a thread of its own until `stop()`. The checker keeps no reference to the
    /// thread, which would keep the checker (and its destination) alive for good.
    func start() {
        Thread { [self] in
            while lock.withLock({ running }) {
                check()
                usleep(5_000)
            }
        }.start()
    }

    func stop() {
        lock.withLock { running = false }
        usleep(20_000)
        check()
    }

    private func check() {
        defer { lock.withLock { passes += 1 } }
        for name in reader.narInfoNames() {
            if !recheckWholeNarInfos, lock.withLock({ whole.contains(name) }) { continue }
            guard let text = reader.read(name) else { continue }
            var problems: [String] = []
            for line in text.split(separator: "\n") {
                if line.hasPrefix("URL: "), !reader.exists(String(line.dropFirst(5))) {
                    problems.append("\(name): NAR \(line.dropFirst(5)) missing")
                }
                if line.hasPrefix("References: ") {
                    for reference in line.dropFirst(12).split(separator: " ") where !reader.exists("\(reference.prefix(32)).narinfo") {
                        problems.append("\(name): reference \(reference) not announced")
                    }
                }
            }
            if narInfosMayBeDeleted, !problems.isEmpty, !reader.exists(name) { continue }
            lock.withLock {
                seen.insert(name)
                if problems.isEmpty { whole.insert(name) }
                found += problems
            }
        }
    }
}

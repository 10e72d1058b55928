import Foundation
import Testing
import TestSupport

/// What a power loss can leave in a file:// cache, read off the system calls narsync makes
/// (strace): the order of renames and flushes decides what survives, and it must never leave a
/// narinfo naming a NAR, or a reference, that was lost.
@Suite struct DurabilityTests {
    let nix: NixEnvironment
    let cache: String

    init() throws {
        nix = try NixEnvironment()
        try nix.createStore()
        cache = nix.directory.appending("cache")
    }

    /// Every narinfo is renamed into place only after a flush of the filesystem (syncfs) that
    /// started once its NAR was renamed and its own contents written; every reference's narinfo
    /// was named and its directory flushed before its referrer's narinfo is named. And the
    /// flushes come in groups: no NAR is fsynced on its own.
    @Test(.enabled(if: (try? Subprocess.which("strace")) != nil, "needs strace (scripts/install-dependencies --with-test-tools)"))
    func noNarInfoIsNamedBeforeWhatItNamesIsDurable() throws {
        let closure = try TestClosure.build(in: nix)
        let key = try nix.generateKey(name: "durability-1")
        let log = nix.directory.appending("strace.log")
        var environment = nix.environment
        // LeakSanitizer cannot run under ptrace (reliability/sanitizers).
        if let options = environment["ASAN_OPTIONS"] { environment["ASAN_OPTIONS"] = options + ":detect_leaks=0" }
        let backfill = try Subprocess.run(try Subprocess.which("strace"), [
            "-f", "-qq", "-y", "-s", "0", "-o", log, "-e", "trace=rename,renameat,renameat2,syncfs,fsync,fdatasync,write",
            narsyncExecutable, "backfill", "--to", "file://\(cache)", "--key-file", key.secretKeyFile,
            "--store-root", nix.storeRoot, closure.top,
        ], environment: environment)
        #expect(backfill.status == 0, "\(backfill.standardError)")

        let trace = FlushTrace(try String(contentsOfFile: log, encoding: .utf8), directory: cache)
        let narInfos = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".narinfo") }
        #expect(narInfos.count == closure.outputs.count)
        for name in narInfos {
            let fields = try narInfoFields(String(contentsOfFile: "\(cache)/\(name)", encoding: .utf8))
            let named = try #require(trace.renameStart["\(cache)/\(name)"], "\(name) was not renamed into place")
            let narRenamed = try #require(trace.renameEnd["\(cache)/\(fields["URL"]!)"], "its NAR was not renamed into place")
            let written = try #require(trace.lastWriteEnd[name], "\(name)'s contents were not seen written")
            #expect(trace.syncfs.contains { $0.start > max(narRenamed, written) && $0.end < named },
                    "\(name) was named with no flush between it and its NAR and contents")
            for reference in (fields["References"] ?? "").split(separator: " ") where !name.hasPrefix(reference.prefix(32)) {
                let referenceNamed = try #require(trace.renameEnd["\(cache)/\(reference.prefix(32)).narinfo"])
                #expect(trace.directoryFlushes.contains { $0.start > referenceNamed && $0.end < named },
                        "\(name) was named before its reference \(reference) was durable")
            }
        }
        #expect(trace.nonDirectoryFsyncs == 0, "files are flushed in groups by syncfs, never one by one")
        #expect(trace.syncfs.count <= narInfos.count + 1)
    }

    private func narInfoFields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }
}

/// Renames, writes and flushes of an `strace -f -y` log, as positions in the log: a call that
/// blocked has its start (`<unfinished ...>`) and its end (`<... resumed>`) on different lines.
private struct FlushTrace {
    struct Span { var start: Int, end: Int }

    var renameStart: [String: Int] = [:]
    var renameEnd: [String: Int] = [:]
    /// By the final name a temporary file is for (`.NAME.tmp-...` -> NAME).
    var lastWriteEnd: [String: Int] = [:]
    var syncfs: [Span] = []
    /// fsyncs of the cache's top directory, where the narinfos are.
    var directoryFlushes: [Span] = []
    var nonDirectoryFsyncs = 0

    init(_ log: String, directory: String) {
        var unfinished: [String: (call: String, line: String, start: Int)] = [:]
        for (position, line) in log.split(separator: "\n").map(String.init).enumerated() {
            guard let pid = line.split(separator: " ").first.map(String.init) else { continue }
            let call: String, text: String, start: Int
            if let resumed = line.firstMatch(of: /<\.\.\. ([a-z0-9_]+) resumed>/), let begun = unfinished.removeValue(forKey: pid) {
                (call, text, start) = (String(resumed.1), begun.line, begun.start)
            } else if let match = line.firstMatch(of: /^\d+\s+([a-z0-9_]+)\(/) {
                if line.hasSuffix("<unfinished ...>") {
                    unfinished[pid] = (String(match.1), line, position)
                    continue
                }
                (call, text, start) = (String(match.1), line, position)
            } else {
                continue
            }
            let span = Span(start: start, end: position)
            let paths = text.matches(of: /"((?:[^"\\]|\\.)*)"/).map { String($0.1) }
            let descriptorPath = text.firstMatch(of: /\(\d+<([^>]*)>/).map { String($0.1) }
            switch call {
            case "rename", "renameat", "renameat2":
                guard let target = paths.last else { continue }
                renameStart[target] = span.start
                renameEnd[target] = span.end
            case "write":
                guard let file = descriptorPath, let name = (file as NSString).lastPathComponent.firstMatch(of: /^\.(.*)\.tmp-/) else { continue }
                lastWriteEnd[String(name.1)] = span.end
            case "syncfs":
                syncfs.append(span)
            case "fsync", "fdatasync":
                if descriptorPath == directory { directoryFlushes.append(span) }
                // The state directory's manifest (SQLite) and the cache's directories are not objects.
                else if let file = descriptorPath, file.hasPrefix(directory + "/"), !file.hasSuffix("/nar") { nonDirectoryFsyncs += 1 }
            default:
                continue
            }
        }
    }
}

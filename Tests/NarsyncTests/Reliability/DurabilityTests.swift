import Foundation
import NixStore
import SystemSupport
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

    /// Traces `narsync backfill` of `roots` to the file:// cache.
    private func tracedBackfill(_ roots: [String]) throws -> FlushTrace {
        let key = try nix.generateKey(name: "durability-1")
        let log = nix.directory.appending("strace-\(UUID().uuidString).log")
        var environment = nix.environment
        // LeakSanitizer cannot run under ptrace (reliability/sanitizers).
        if let options = environment["ASAN_OPTIONS"] { environment["ASAN_OPTIONS"] = options + ":detect_leaks=0" }
        let backfill = try Subprocess.run(try Subprocess.which("strace"), [
            "-f", "-qq", "-y", "-s", "0", "-o", log, "-e", "trace=rename,renameat,renameat2,syncfs,fsync,fdatasync,write",
            narsyncExecutable, "backfill", "--to", "file://\(cache)", "--key-file", key.secretKeyFile,
            "--store-root", nix.storeRoot,
        ] + roots, environment: environment)
        #expect(backfill.status == 0, "\(backfill.standardError)")
        return FlushTrace(try String(contentsOfFile: log, encoding: .utf8), directory: cache)
    }

    /// Every narinfo is renamed into place only once its NAR (file and directory entry) and its
    /// own contents are flushed, by fsyncs of them or a syncfs that started after they were
    /// written; every reference's narinfo was named and its directory flushed before its
    /// referrer's narinfo is named.
    private func checkOrder(_ trace: FlushTrace) throws -> Int {
        let narInfos = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".narinfo") }
        for name in narInfos {
            let narInfo = try NarInfo(parsing: String(contentsOfFile: "\(cache)/\(name)", encoding: .utf8), storeDirectory: .standard, source: name)
            let nar = "\(cache)/\(narInfo.url)"
            let named = try #require(trace.renameStart["\(cache)/\(name)"], "\(name) was not renamed into place")
            let narRenamed = try #require(trace.renameEnd[nar], "its NAR was not renamed into place")
            let written = try #require(trace.lastWriteEnd["\(cache)/\(name)"], "\(name)'s contents were not seen written")
            // Booleans first: a failed #expect would print the whole trace.
            let narFlushed = trace.flushed(nar, after: narRenamed, before: named)
            let narDirectoryFlushed = trace.flushed("\(cache)/nar", after: narRenamed, before: named)
            let contentsFlushed = trace.flushed("\(cache)/\(name)", after: written, before: named)
            #expect(narFlushed, "\(name) named before its NAR was flushed")
            #expect(narDirectoryFlushed, "\(name) named before nar/ was flushed")
            #expect(contentsFlushed, "\(name) named before its contents were flushed")
            for reference in narInfo.references where reference != narInfo.storePath {
                let referenceNamed = try #require(trace.renameEnd["\(cache)/\(reference.hashPart).narinfo"])
                let referenceFlushed = trace.flushed(cache, after: referenceNamed, before: named)
                #expect(referenceFlushed, "\(name) was named before its reference \(reference) was durable")
            }
        }
        return narInfos.count
    }

    /// A small closure: few files per group, each fsynced, and no syncfs (nothing else on the
    /// filesystem delays them).
    @Test(.enabled(if: (try? Subprocess.which("strace")) != nil, "needs strace (scripts/install-dependencies --with-test-tools)"))
    func aFewPathsAreFlushedFileByFileBeforeTheirNarInfosAreNamed() throws {
        let closure = try TestClosure.build(in: nix)
        let trace = try tracedBackfill([closure.top])
        #expect(try checkOrder(trace) == closure.outputs.count)
        let syncfsCount = trace.syncfs.count
        #expect(syncfsCount == 0)
    }

    /// 300 small paths: groups large enough for one syncfs each, far fewer flushes than files.
    @Test(.enabled(if: (try? Subprocess.which("strace")) != nil, "needs strace (scripts/install-dependencies --with-test-tools)"))
    func manyPathsAreFlushedInGroupsBeforeTheirNarInfosAreNamed() throws {
        let count = 300
        let files = (0..<count).map { index in
            let references = [index / 2, index / 3].filter { $0 < index }.map { "${f\($0)}" }
            return "f\(index) = builtins.toFile \"p\(index)\" \"\(UUID()) \(index) \(references.joined(separator: " "))\";"
        }
        let expression = "let \(files.joined(separator: "\n")) in [ \((0..<count).map { "f\($0)" }.joined(separator: " ")) ]"
        let paths = try nix.run("nix-instantiate", ["--store", nix.storeRoot, "--read-write-mode", "--eval", "--strict", "--json", "--expr", expression])
        let roots = try JSONDecoder().decode([String].self, from: Data(paths.standardOutput.utf8))
        let trace = try tracedBackfill(roots)
        #expect(try checkOrder(trace) == count)
        let (syncfsCount, flushes) = (trace.syncfs.count, trace.cacheFlushes)
        #expect(syncfsCount > 0)
        #expect(flushes < count, "\(flushes) flushes for \(count) NARs and \(count) narinfos")
    }
}

/// Renames, writes and flushes of an `strace -f -y` log, as positions in the log: a call that
/// blocked has its start (`<unfinished ...>`) and its end (`<... resumed>`) on different lines.
private struct FlushTrace {
    struct Span { var start: Int, end: Int }

    var renameStart: [String: Int] = [:]
    var renameEnd: [String: Int] = [:]
    /// By the final name a temporary file is for (`DIR/.NAME.tmp-...` -> DIR/NAME).
    var lastWriteEnd: [String: Int] = [:]
    var syncfs: [Span] = []
    /// fsyncs by the file or directory flushed, temporaries by their final name.
    var fsyncs: [String: [Span]] = [:]
    /// Flushes of the cache's files and directories (the manifest's are the state directory's).
    var cacheFlushes = 0

    init(_ log: String, directory: String) {
        var unfinished: [String: (line: String, start: Int)] = [:]
        for (position, line) in log.split(separator: "\n").map(String.init).enumerated() {
            guard let pid = line.split(separator: " ").first.map(String.init) else { continue }
            let text: String, start: Int
            if line.contains(" resumed>"), let begun = unfinished.removeValue(forKey: pid) {
                (text, start) = (begun.line, begun.start)
            } else if line.hasSuffix("<unfinished ...>") {
                unfinished[pid] = (line, position)
                continue
            } else {
                (text, start) = (line, position)
            }
            guard let call = text.firstMatch(of: /^\d+\s+([a-z0-9_]+)\(/).map({ String($0.1) }) else { continue }
            let span = Span(start: start, end: position)
            let paths = text.matches(of: /"((?:[^"\\]|\\.)*)"/).map { String($0.1) }
            let descriptor = text.firstMatch(of: /\(\d+<([^>]*)>/).map { Self.finalName(of: String($0.1)) }
            switch call {
            case "rename", "renameat", "renameat2":
                guard let target = paths.last else { continue }
                renameStart[target] = span.start
                renameEnd[target] = span.end
            case "write":
                if let file = descriptor { lastWriteEnd[file] = span.end }
            case "syncfs":
                syncfs.append(span)
                cacheFlushes += 1
            case "fsync", "fdatasync":
                guard let file = descriptor, file == directory || file.hasPrefix(directory + "/") else { continue }
                fsyncs[file, default: []].append(span)
                cacheFlushes += 1
            default:
                continue
            }
        }
    }

    /// Whether `file` was flushed (by an fsync of it or a syncfs) between two positions.
    func flushed(_ file: String, after: Int, before: Int) -> Bool {
        (syncfs + (fsyncs[file] ?? [])).contains { $0.start > after && $0.end < before }
    }

    private static func finalName(of path: String) -> String {
        let (directory, name) = splitPath(path)
        guard let match = name.firstMatch(of: /^\.(.*)\.tmp-/) else { return path }
        return "\(directory)/\(match.1)"
    }
}

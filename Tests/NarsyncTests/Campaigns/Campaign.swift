import BinaryCache
import Foundation
import SystemSupport
import TestSupport

/// How big a reliability campaign runs: `short` in CI (`scripts/test`), `full` for the figures
/// of RELIABILITY.md (`reliability/run-campaign NAME --full`, which sets `NARSYNC_CAMPAIGN=full`).
enum CampaignSize: String, Sendable {
    case short, full

    static var current: CampaignSize {
        ProcessInfo.processInfo.environment["NARSYNC_CAMPAIGN"].flatMap(CampaignSize.init(rawValue:)) ?? .short
    }
}

/// A reproducible source of the campaign's random choices (SplitMix64): the seed comes from
/// `NARSYNC_CAMPAIGN_SEED` or the clock, and the report prints it so a run can be repeated.
struct CampaignRandom: RandomNumberGenerator, Sendable {
    let seed: UInt64
    private var state: UInt64

    init() {
        let given = ProcessInfo.processInfo.environment["NARSYNC_CAMPAIGN_SEED"].flatMap(UInt64.init)
        seed = given ?? UInt64(Date().timeIntervalSince1970 * 1000)
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The figures of one campaign run, in the order they were recorded: printed to the test's
/// output and, when `NARSYNC_CAMPAIGN_RESULTS` names a directory, written there as
/// `<campaign>.json` and `<campaign>.md` for `reliability/run-campaign`.
final class CampaignReport: @unchecked Sendable {
    let campaign: String
    private let started = ContinuousClock.now
    private let lock = NSLock()
    private var figures: [(name: String, value: String)] = []

    init(campaign: String, size: CampaignSize, seed: UInt64) {
        self.campaign = campaign
        record("campaign", campaign)
        record("size", size.rawValue)
        record("seed", seed)
        record("date", ISO8601DateFormatter().string(from: Date()))
        record("machine", Self.machine)
    }

    func record(_ name: String, _ value: some CustomStringConvertible) {
        lock.withLock { figures.append((name, value.description)) }
    }

    /// Seconds since the campaign started, with one decimal.
    var elapsed: String { String(format: "%.1f", (ContinuousClock.now - started).timeInterval) }

    /// Prints the figures and writes them to the results directory, if one is set.
    func publish() {
        record("wall time (s)", elapsed)
        let lines = lock.withLock { figures }
        let table = ["| figure | value |", "| --- | --- |"] + lines.map { "| \($0.name) | \($0.value) |" }
        print("narsync \(campaign) campaign:\n" + table.joined(separator: "\n"))
        guard let directory = Self.resultsDirectory else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? (table.joined(separator: "\n") + "\n").write(toFile: "\(directory)/\(campaign).md", atomically: true, encoding: .utf8)
        let object = Dictionary(lines.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
        if let json = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) {
            try? json.write(to: URL(fileURLWithPath: "\(directory)/\(campaign).json"))
        }
    }

    /// Writes `text` (logs, for a look after the run) to `<campaign>-<name>` in the results
    /// directory, if one is set.
    func attach(_ name: String, _ text: String) {
        guard let directory = Self.resultsDirectory else { return }
        try? text.write(toFile: "\(directory)/\(campaign)-\(name)", atomically: true, encoding: .utf8)
    }

    private static var resultsDirectory: String? {
        ProcessInfo.processInfo.environment["NARSYNC_CAMPAIGN_RESULTS"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Cores and CPU model, from /proc/cpuinfo.
    static var machine: String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "" } ?? "unknown CPU"
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(model)"
    }
}

/// What the S3 requests a fault proxy saw say about multipart uploads.
struct MultipartLedger {
    /// Part uploads answered 2xx.
    var partsStored = 0
    /// (upload, part number) pairs stored more than once: parts sent again although S3 had them.
    var duplicateParts = 0
    /// Multipart uploads created.
    var uploadsCreated = 0

    init(_ requests: [FaultProxy.Request]) {
        var stored: [String: Int] = [:]
        for request in requests where request.status.map({ $0 / 100 == 2 }) == true {
            if request.method == "POST" && request.target.contains("?uploads") && !request.target.contains("uploadId=") {
                uploadsCreated += 1
            }
            guard request.method == "PUT", let number = Self.query("partNumber", in: request.target),
                let upload = Self.query("uploadId", in: request.target)
            else { continue }
            partsStored += 1
            stored["\(upload) \(number)", default: 0] += 1
        }
        duplicateParts = stored.values.filter { $0 > 1 }.count
    }

    static func query(_ name: String, in target: String) -> String? {
        URLComponents(string: target)?.queryItems?.first { $0.name == name }?.value
    }
}

/// The NAR objects the narinfos `names` of `bucket` point to (their `URL:` lines). Paths with
/// the same contents share one NAR object: it is named after the NAR's hash.
func narKeys(of names: Set<String>, in bucket: any BinaryCacheDestination) throws -> Set<String> {
    Set(try names.compactMap { name in
        let text = String(decoding: try bucket.read(key: name) ?? [], as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix("URL: ") }.map { String($0.dropFirst(5)) }
    })
}

/// Runs `body` on a thread of its own, for work a campaign does beside the test's own (a
/// real Nix building); `join` waits for it and hands back what it threw.
final class CampaignThread: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var failure: Error?

    init(_ body: @escaping @Sendable () throws -> Void) {
        Thread { [self] in
            do { try body() } catch { failure = error }
            done.signal()
        }.start()
    }

    func join() throws {
        done.wait()
        if let failure { throw failure }
    }
}

/// A value shared between a campaign's threads.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value { lock.withLock { stored } }

    func mutate(_ body: (inout Value) throws -> Void) rethrows {
        try lock.withLock { try body(&stored) }
    }
}

import Foundation
import NixStore
import Replication

/// What `narsync verify` prints: the report, and the repair if one was asked for.
struct VerifyReport {
    var cache: String
    var report: CacheReport
    var repair: RepairReport?

    var isHealthyAfterwards: Bool {
        guard let repair else { return report.isHealthy }
        return !repair.dryRun && repair.failures.isEmpty
    }

    var text: String {
        var lines = ["verified \(cache): \(report.narInfos) narinfos, \(report.narObjects) NAR objects (\(ByteCount(report.narBytes)))"]
        if report.isHealthy {
            lines.append("healthy: no problems")
        } else {
            let counts = CacheProblem.Kind.allCases.map { (kind: $0, count: report.count($0)) }.filter { $0.count > 0 }
            lines.append("problems: \(report.problems.count) (\(counts.map { "\($0.kind.rawValue) \($0.count)" }.joined(separator: ", ")))")
            lines += report.problems.map(\.line)
        }
        lines += report.notChecked.map { "not checked: \($0)" }
        if !report.orphanedNars.isEmpty {
            lines.append("orphaned NARs (no narinfo names them): \(report.orphanedNars.count), \(ByteCount(report.orphanedNars.reduce(0) { $0 + $1.size }))")
            lines += report.orphanedNars.map { "  \($0.key) \(ByteCount($0.size))" }
        }
        if !report.incompleteUploads.isEmpty {
            lines.append("uploads left in flight: \(report.incompleteUploads.count)")
            lines += report.incompleteUploads.map { "  \($0.key) (\($0.id)) since \($0.started)\($0.size.map { " \(ByteCount($0))" } ?? "")" }
        }
        if let repair { lines += repair.lines }
        return lines.joined(separator: "\n")
    }

    var json: String {
        var object: [String: Any] = [
            "cache": cache, "healthy": report.isHealthy, "narInfos": report.narInfos, "narObjects": report.narObjects,
            "narBytes": report.narBytes,
            "problemCounts": Dictionary(uniqueKeysWithValues: CacheProblem.Kind.allCases.map { ($0.rawValue, report.count($0)) }),
            "problems": report.problems.map { problem -> [String: Any] in
                ["kind": problem.kind.rawValue, "key": problem.key, "path": problem.path ?? NSNull(), "detail": problem.detail]
            },
            "notChecked": report.notChecked,
            "orphanedNars": report.orphanedNars.map { ["key": $0.key, "size": $0.size] as [String: Any] },
            "incompleteUploads": report.incompleteUploads.map { upload -> [String: Any] in
                ["key": upload.key, "id": upload.id, "started": upload.started.timeIntervalSince1970, "size": upload.size ?? NSNull()]
            },
        ]
        if let repair { object["repair"] = repair.jsonObject }
        return JSONText.render(object)
    }
}

/// The repair part of `narsync verify --repair`.
struct RepairReport {
    var republish: [String]
    var removals: [(path: String, reason: String)]
    var dryRun: Bool
    var failures: [String] = []

    init(plan: RepairPlan, storeDirectory: StoreDirectory, dryRun: Bool) {
        republish = plan.republish.map { storeDirectory.fullPath(of: $0.path) }
        removals = plan.removals.flatMap { $0 }.map { entry in
            (entry.narInfo.map { storeDirectory.fullPath(of: $0.storePath) } ?? entry.object.key, plan.reasons[entry.object.key] ?? "")
        }
        self.dryRun = dryRun
    }

    var lines: [String] {
        let verb = dryRun ? ("would publish again", "would remove") : ("published again", "removed")
        var lines = ["repair\(dryRun ? " (dry run, nothing changed)" : ""): \(republish.count) to publish again, \(removals.count) to remove"]
        lines += republish.map { "\(verb.0): \($0)" }
        lines += removals.map { "\(verb.1): \($0.path): \($0.reason)" }
        lines += failures.map { "failed: \($0)" }
        return lines
    }

    var jsonObject: [String: Any] {
        [
            "dryRun": dryRun, "republish": republish, "failures": failures,
            "remove": removals.map { ["path": $0.path, "reason": $0.reason] },
        ]
    }
}

enum JSONText {
    static func render(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

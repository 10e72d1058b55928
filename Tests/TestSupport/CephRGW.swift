import Foundation
import Synchronization

/// A real Ceph RADOS Gateway, the S3 server of many production deployments: a one-node cluster
/// (one monitor, one OSD, radosgw) started by `scripts/ceph-rgw` from the Debian 13 tree that
/// `scripts/trixie-tree` makes. Started once per test process, on first use (about 20 s), shared
/// by every suite, and stopped when the process ends, however it ends: the script's watcher
/// stops the cluster once this process is gone, so a killed run leaves nothing running.
public final class CephRGW: Sendable {
    public let port: Int
    /// The keys of the one S3 user, which owns every bucket the tests make.
    public let credentials: MotoServer.Credentials
    /// Ceph's version, as `radosgw --version` gives it ("18.2.7").
    public let version: String
    private let stateDirectory: String
    private let pids: [pid_t]

    /// The process's gateway, started on first use. A start that failed fails every later use
    /// with the same error instead of waiting for another start that would fail the same way.
    public static func shared() throws -> CephRGW { try started.get() }

    private static let started: Result<CephRGW, any Error> = Result { try CephRGW() }

    private init() throws {
        let script = Self.repositoryRoot + "/scripts/ceph-rgw"
        stateDirectory = NSTemporaryDirectory() + "narsync-rgw-\(UUID().uuidString.prefix(8))"
        let result = try Subprocess.run(script, ["up", stateDirectory, String(getpid())])
        guard result.status == 0 else {
            throw TestFailure("scripts/ceph-rgw up failed (status \(result.status)): \(result.standardError.suffix(3000))")
        }
        var values: [String: String] = [:]
        for line in result.standardOutput.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let port = values["S3_PORT"].flatMap(Int.init), let accessKey = values["S3_ACCESS_KEY"],
            let secretKey = values["S3_SECRET_KEY"]
        else {
            throw TestFailure("scripts/ceph-rgw up printed no endpoint or keys: \(result.standardOutput)")
        }
        self.port = port
        credentials = MotoServer.Credentials(accessKeyID: accessKey, secretAccessKey: secretKey)
        version = values["CEPH_VERSION"] ?? "unknown"
        pids = (values["PIDS"] ?? "").split(separator: " ").compactMap { pid_t($0) }
        // At a normal exit, at once; the watcher then removes the state directory.
        CephRGW.pidsToKillAtExit.withLock { [pids] in $0 = pids }
        atexit {
            for pid in CephRGW.pidsToKillAtExit.withLock({ $0 }) { kill(pid, SIGKILL) }
        }
    }

    private static let pidsToKillAtExit = Mutex<[pid_t]>([])

    /// `host:port`, as an S3 URL's `endpoint=` wants it.
    public var endpoint: String { "127.0.0.1:\(port)" }

    /// Lets anyone GET the bucket's objects, as a public cache bucket would: a bucket policy,
    /// sent signed by curl (`--aws-sigv4`; the S3 client under test is not TestSupport's to use).
    public func allowAnonymousReads(bucket: String) throws {
        let policy = """
            {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::\(bucket)/*"}]}
            """
        // curl 7.88 signs neither the payload (hence UNSIGNED-PAYLOAD, which S3 accepts) nor a
        // query parameter without "=".
        let result = try Subprocess.run("curl", [
            "--silent", "--show-error", "--write-out", "\n%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:s3",
            "--user", "\(credentials.accessKeyID):\(credentials.secretAccessKey)",
            "--header", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--request", "PUT", "--data-binary", policy,
            "http://\(endpoint)/\(bucket)?policy=",
        ])
        guard result.status == 0, result.standardOutput.hasSuffix("\n204") || result.standardOutput.hasSuffix("\n200") else {
            throw TestFailure("RGW refused the bucket policy of \(bucket): \(result.standardOutput) \(result.standardError)")
        }
    }

    /// The end of radosgw's log, for failure messages.
    public var log: String {
        let text = (try? String(contentsOfFile: stateDirectory + "/log/client.rgw.a.log", encoding: .utf8)) ?? ""
        return String(text.suffix(20_000))
    }

    /// The repository's root, where `scripts/` is: this file is Tests/TestSupport/CephRGW.swift.
    private static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

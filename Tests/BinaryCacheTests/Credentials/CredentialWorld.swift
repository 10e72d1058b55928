@testable import BinaryCache
import Foundation
import TestSupport

/// A real moto (signature checking off, so that any key may sign) serving S3, STS and
/// instance metadata, with S3 reached through a recording proxy: which access key signed each
/// S3 request is what proves where narsync took its credentials.
final class CredentialWorld: @unchecked Sendable {
    let moto: MotoServer
    let proxy: FaultProxy
    let home: TemporaryDirectory
    let bucket = "creds-\(UUID().uuidString.prefix(8).lowercased())"

    init(plan: @escaping @Sendable (Int, String, String) -> FaultProxy.Fault? = { _, _, _ in nil }) throws {
        moto = try MotoServer()
        proxy = try FaultProxy(upstreamPort: moto.port, plan: plan)
        home = try TemporaryDirectory(prefix: "narsync-creds")
        let setup = try S3Destination(
            url: "s3://\(bucket)?endpoint=\(moto.endpoint)&scheme=http&region=us-east-1",
            options: DestinationOptions(environment: ["AWS_ACCESS_KEY_ID": "AKIASETUP", "AWS_SECRET_ACCESS_KEY": "setup"]))
        try setup.createBucket()
    }

    /// moto's own address, for STS, instance metadata and container credentials.
    var motoURL: String { "http://\(moto.endpoint)" }

    /// An environment with nothing from this machine: HOME is a fresh directory and instance
    /// metadata is turned off unless a test points it somewhere.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        ["HOME": home.path, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true"]
            .merging(extra) { $1 }
    }

    /// A destination for the bucket through the proxy, with credentials found in `environment`.
    func destination(_ environment: [String: String], urlExtra: String = "&region=us-east-1") throws -> S3Destination {
        var options = DestinationOptions(partSize: 5 << 20, environment: environment)
        options.retry = RequestRetryPolicy(
            maximumAttempts: 3, initialDelay: .milliseconds(20), maximumDelay: .milliseconds(100), maximumTotalTime: .seconds(20))
        return try S3Destination(url: "s3://\(bucket)?endpoint=127.0.0.1:\(proxy.port)&scheme=http\(urlExtra)", options: options)
    }

    /// The access keys that signed the proxy's requests, in order.
    var signingKeys: [String] { proxy.requests.compactMap(\.accessKeyID) }

    /// Writes `text` to `name` under the home directory; returns its path.
    @discardableResult
    func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let path = home.appending(name)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    /// A `credential_process` script: each run hands out a new key, AKIAPROC0001, 0002...,
    /// that expires `lifetime` seconds later. Returns the command line for the profile.
    func credentialProcess(lifetime: Int) throws -> String {
        let counter = home.appending("process-runs")
        let script = try write("bin/credentials-for-narsync", """
            #!/bin/sh
            n=$(( $(cat '\(counter)' 2>/dev/null || echo 0) + 1 ))
            echo $n > '\(counter)'
            expires=$(date -u -d "+\(lifetime) seconds" +%Y-%m-%dT%H:%M:%SZ)
            printf '{"Version": 1, "AccessKeyId": "AKIAPROC%04d", "SecretAccessKey": "process-secret-%d", "SessionToken": "process-token-%d", "Expiration": "%s"}\\n' $n $n $n "$expires"
            """, mode: 0o700)
        return "\(script) --profile 'with spaces'"
    }

    /// How often the credential_process script ran.
    var processRuns: Int {
        Int((try? String(contentsOfFile: home.appending("process-runs"), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0") ?? 0
    }
}

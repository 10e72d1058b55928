@testable import BinaryCache
import Foundation
import NixStore
import SystemSupport
import Testing
import TestSupport

/// The credential-expiry campaign (RELIABILITY.md): `narsync watch` signs with credentials a
/// `credential_process` hands out for 20 s at a time, from a file the campaign rewrites, on
/// moto with signature checking on. Each rotation creates a second real IAM key, switches the
/// file to it, waits for narsync to pick it up by itself (its refresh, at half the 20 s),
/// deletes the old key in IAM, then publishes a path, which must be signed with the new key.
/// One narinfo upload is answered `ExpiredToken` by the proxy: narsync must fetch credentials
/// again and send it once more. Then the process fails (an outage of the credential store)
/// until the credentials have expired: a path added meanwhile must wait in the queue with
/// backoff, the failure be logged once, the metric count it, and the path go out once the
/// process works again. Nothing may be lost; `narsync status` and the metrics show the source
/// and the expiry; no secret appears in the output.
@Suite(.serialized) struct CredentialExpiryCampaignTests {
    /// Rotations of the IAM key: one in CI, more in a full run.
    static var rotations: Int { CampaignSize.current == .full ? 5 : 1 }
    static let lifetime = 20

    /// An IAM user's access key.
    struct IAMKey {
        var accessKeyID: String
        var secretAccessKey: String
    }

    let s3: NixAndBucket
    let state: String
    let keyFile: String
    let random = CampaignRandom()

    init() throws {
        s3 = try NixAndBucket(bucketPrefix: "narsync-expiry")
        state = s3.nix.directory.appending("state")
        keyFile = s3.nix.directory.appending("current-aws-key")
    }

    /// An IAM API call to moto signed with `signer`, as the AWS CLI would send it.
    private func iam(_ parameters: [(String, String)], signer: IAMKey) throws -> String {
        let body = Array(((parameters + [("Version", "2010-05-08")]).map { "\(S3Path.encode($0.0))=\(S3Path.encode($0.1))" }
            .joined(separator: "&")).utf8)
        let credentials = S3Credentials(accessKeyID: signer.accessKeyID, secretAccessKey: signer.secretAccessKey, source: "campaign")
        let timestamp = SigV4Signer.timestamp(Date())
        let hash = SHA256Hasher.hash(body).hex
        var headers = [("content-type", "application/x-www-form-urlencoded"), ("host", s3.server.endpoint), ("x-amz-date", timestamp)]
        let request = SigV4Signer.Request(method: "POST", canonicalURI: "/", query: [], headers: headers, payloadHash: hash)
        headers.append(("authorization", SigV4Signer(credentials: credentials, region: "us-east-1", service: "iam")
            .authorization(for: request, timestamp: timestamp)))
        let response = try LoopbackHTTP.request(port: s3.server.port, method: "POST", target: "/", headers: headers, body: body)
        guard response.status == 200 else { throw TestFailure("IAM \(parameters[0].1) answered \(response.status): \(response.text)") }
        return response.text
    }

    private func createKey(signer: IAMKey) throws -> IAMKey {
        let answer = Substring(try iam([("Action", "CreateAccessKey"), ("UserName", "narsync-test")], signer: signer))
        guard let id = S3XML.value("AccessKeyId", in: answer), let secret = S3XML.value("SecretAccessKey", in: answer) else {
            throw TestFailure("no key in CreateAccessKey's answer")
        }
        return IAMKey(accessKeyID: id, secretAccessKey: secret)
    }

    /// Makes the credential_process hand out `key` from its next run on.
    private func handOut(_ key: IAMKey) throws {
        try "\(key.accessKeyID) \(key.secretAccessKey)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
    }

    /// The destination's credentials in `narsync status --json`.
    private func statusCredentials() throws -> [String: Any] {
        let result = try Subprocess.checked(narsyncExecutable, ["status", "--json", "--state-dir", state, "--store-root", s3.nix.storeRoot])
        let json = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        return ((json?["destinations"] as? [[String: Any]])?.first?["credentials"] as? [String: Any]) ?? [:]
    }

    @Test func servicesKeepPublishingWhileTheirCredentialsExpireAndRotate() throws {
        let report = CampaignReport(campaign: "credential-expiry", size: CampaignSize.current, seed: random.seed)
        var current = IAMKey(accessKeyID: s3.credentials.accessKeyID, secretAccessKey: s3.credentials.secretAccessKey)
        try handOut(current)
        let runs = s3.nix.directory.appending("process-runs")
        let script = s3.nix.directory.appending("hand-out-aws-key")
        try """
            #!/bin/sh
            echo run >> '\(runs)'
            read id secret < '\(keyFile)'
            if [ "$id" = unreachable ]; then echo "credential store unreachable" >&2; exit 1; fi
            expires=$(date -u -d "+\(Self.lifetime) seconds" +%Y-%m-%dT%H:%M:%SZ)
            printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "Expiration": "%s"}\\n' "$id" "$secret" "$expires"
            """.write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: script)
        let config = s3.nix.directory.appending("aws-config")
        try "[profile rotating]\ncredential_process = \(script)\n".write(toFile: config, atomically: true, encoding: .utf8)

        let armed = SystemSupport.Locked(false)
        let proxy = try FaultProxy(upstreamPort: s3.server.port, closesConnections: true) { _, method, target in
            guard method == "PUT", target.hasSuffix(".narinfo") else { return nil }
            return armed.withLock { (isArmed: inout Bool) -> FaultProxy.Fault? in
                defer { isArmed = false }
                return isArmed ? .status(400, code: "ExpiredToken") : nil
            }
        }
        let metricsPort = try unusedLoopbackPort()
        let watch = try BackgroundProcess(narsyncExecutable, [
            "watch", "--to", s3.url(port: proxy.port), "--store-root", s3.nix.storeRoot, "--state-dir", state,
            "--aws-config-file", config, "--aws-profile", "rotating", "--recheck-seconds", "2",
            "--retry-initial-seconds", "0.5", "--hook-socket", "none", "--metrics-listen", "127.0.0.1:\(metricsPort)",
        ], environment: s3.environment, logFile: s3.nix.directory.appending("watch.log"))
        defer { _ = watch.stop() }
        #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
        #expect(watch.output.contains("using AWS credentials from profile [rotating] credential_process"))

        func publish(_ name: String) throws -> (path: String, keys: Set<String>) {
            // Read straight from moto with the key in use (the first one is deleted later).
            let bucket = try S3Destination(url: s3.url(), options: DestinationOptions(environment: [
                "AWS_ACCESS_KEY_ID": current.accessKeyID, "AWS_SECRET_ACCESS_KEY": current.secretAccessKey,
            ]))
            let before = proxy.requests.count
            let path = try s3.nix.addUniqueFile(named: name)
            let published = eventually(timeout: .seconds(40)) {
                (try? bucket.exists(key: narInfoName(of: path))) ?? false
            }
            #expect(published, "\(path): \(watch.output)")
            let keys = Set(proxy.requests.dropFirst(before).filter { $0.method == "PUT" }.compactMap(\.accessKeyID))
            return (path, keys)
        }

        let first = try publish("before-rotation")
        #expect(first.keys == [current.accessKeyID])
        var published = 1
        var deleted: Set<String> = []
        var signedWithDeleted = 0
        for rotation in 1...Self.rotations {
            let next = try createKey(signer: current)
            try handOut(next)
            // narsync renews by itself at half the 20 s lifetime; no request needs to fail first.
            let picked = eventually(timeout: .seconds(Double(Self.lifetime) + 10)) {
                (try? statusCredentials()["accessKeyID"] as? String) == next.accessKeyID
            }
            #expect(picked, "rotation \(rotation): \(watch.output)")
            _ = try iam([("Action", "DeleteAccessKey"), ("UserName", "narsync-test"), ("AccessKeyId", current.accessKeyID)], signer: next)
            deleted.insert(current.accessKeyID)
            let old = current
            current = next
            // The deletion is real: moto refuses the old key from now on.
            let withOldKey = try S3Destination(url: s3.url(), options: DestinationOptions(environment: [
                "AWS_ACCESS_KEY_ID": old.accessKeyID, "AWS_SECRET_ACCESS_KEY": old.secretAccessKey,
            ]))
            #expect(throws: DestinationError.self) { try withOldKey.exists(key: "nix-cache-info") }
            if rotation == 1 { armed.withLock { $0 = true } }
            let later = try publish("after-rotation-\(rotation)")
            published += 1
            signedWithDeleted += later.keys.intersection(deleted).count
            #expect(later.keys == [current.accessKeyID], "rotation \(rotation): signed with \(later.keys)")
            #expect(!later.keys.contains(old.accessKeyID))
        }
        #expect(signedWithDeleted == 0)
        // The ExpiredToken answer was followed by one retry with credentials fetched again.
        let refused = proxy.requests.filter { $0.fault != nil }
        let retried = { refused.filter { refusal in
            proxy.requests.contains { $0.index > refusal.index && $0.target == refusal.target && $0.status == 200 }
        } }
        // (The proxy records a status just after sending it.)
        #expect(refused.count == 1 && eventually(timeout: .seconds(2)) { retried().count == 1 })

        // An outage of the credential store that outlasts the credentials.
        try "unreachable -\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let outageStarted = ContinuousClock.now
        #expect(eventually(timeout: .seconds(Double(Self.lifetime) + 10)) {
            (try? statusCredentials()["refreshProblem"] as? String) != nil
        }, "\(watch.output)")
        let lastExpiry = (try statusCredentials()["expiration"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
        if let lastExpiry, lastExpiry > Date() { Thread.sleep(forTimeInterval: lastExpiry.timeIntervalSinceNow + 1) }
        let waiting = try s3.nix.addUniqueFile(named: "during-outage")
        #expect(eventually(timeout: .seconds(30)) { ((try? s3.status(stateDirectory: state))?["retrying"] as? Int ?? 0) >= 1 }, "\(watch.output)")
        let reader = try S3Destination(url: s3.url(), options: DestinationOptions(environment: [
            "AWS_ACCESS_KEY_ID": current.accessKeyID, "AWS_SECRET_ACCESS_KEY": current.secretAccessKey,
        ]))
        #expect(try !reader.exists(key: narInfoName(of: waiting)), "nothing goes out with expired credentials")
        let failuresDuringOutage = MetricsScrape.read(port: metricsPort)?.value("narsync_credentials_refresh_failures_total") ?? 0
        #expect(failuresDuringOutage >= 2, "refreshes are retried with backoff")
        try handOut(current)
        // Up to a minute of the refresher's backoff, then the path's own.
        #expect(eventually(timeout: .seconds(120)) { (try? reader.exists(key: narInfoName(of: waiting))) ?? false }, "\(watch.output)")
        let outage = ContinuousClock.now - outageStarted
        published += 1
        let logLines = watch.output.split(separator: "\n")
        let failureLines = logLines.filter { $0.contains("refreshing AWS credentials from") && $0.contains("failed") }
        let recoveryLines = logLines.filter { $0.contains("refreshing AWS credentials works again") }
        #expect(failureLines.count == 1, "logged once per change of state: \(failureLines)")
        #expect(recoveryLines.count == 1)
        let status = try statusCredentials()
        #expect((status["source"] as? String)?.contains("credential_process") == true)
        let text = try Subprocess.checked(narsyncExecutable, ["status", "--state-dir", state, "--store-root", s3.nix.storeRoot]).standardOutput
        #expect(text.contains("AWS credentials from profile [rotating] credential_process, access key \(current.accessKeyID), expire 20"), "\(text)")
        #expect(status["expiration"] != nil)
        let scrape = MetricsScrape.read(port: metricsPort)
        let expiry = scrape?.value("narsync_credentials_expiry_timestamp_seconds")
        #expect(expiry.map { abs($0 - Date().timeIntervalSince1970) < Double(Self.lifetime) + 30 } == true, "\(scrape?.text ?? "")")
        #expect(watch.stop() == 0)
        let output = watch.output
        for secret in [s3.credentials.secretAccessKey, current.secretAccessKey] { #expect(!output.contains(secret)) }
        let processRuns = ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count

        report.record("credential lifetime (s)", Self.lifetime)
        report.record("IAM key rotations (old key deleted)", Self.rotations)
        report.record("credential_process runs", processRuns)
        report.record("paths published", published)
        report.record("paths signed with a deleted key", signedWithDeleted)
        report.record("ExpiredToken answers / retried with fresh credentials", "\(refused.count) / \(retried().count)")
        report.record("credential outage (s, until the queued path went out)", String(format: "%.1f", outage.timeInterval))
        report.record("refresh failures during the outage (metric)", Int(failuresDuringOutage))
        report.record("log lines: refresh failing / working again", "\(failureLines.count) / \(recoveryLines.count)")
        report.publish()
    }
}

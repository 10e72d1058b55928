@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// The secrets campaign (RELIABILITY.md): every command runs with every kind of secret narsync
/// handles set (AWS keys and session token in the environment, a shared credentials file with
/// a profile, a signing key, an HTTP bearer token, a netrc password), at the most verbose log
/// level, in both log formats, with right and wrong secrets; then everything narsync let out
/// (output, logs, status, metrics scrapes and files, its state directory with the manifest
/// dumped, the caches it wrote, its command line in /proc) is searched for each secret.
/// Zero hits. The unit tests of each redaction (S3 errors, config check, URLs) stay where
/// they are; this sweeps all the ways out at once.
@Suite(.serialized) struct SecretsTests {
    let nix: NixEnvironment
    let moto: MotoServer
    let credentials: MotoServer.Credentials
    let bucket = "narsync-\(UUID().uuidString.prefix(8).lowercased())"
    let work: TemporaryDirectory

    init() throws {
        nix = try NixEnvironment()
        try nix.createStore()
        moto = try MotoServer()
        credentials = try moto.enableSignatureChecking()
        work = try TemporaryDirectory(prefix: "narsync-secrets")
        try S3Destination(url: s3URL(), options: DestinationOptions(environment: credentials.added(to: nix.environment))).createBucket()
    }

    private func s3URL(_ extra: String = "") -> String {
        "s3://\(bucket)?endpoint=\(moto.endpoint)&scheme=http&region=us-east-1\(extra)"
    }

    /// Everything narsync wrote where someone could read it, by where it came from.
    private final class Collected {
        var texts: [(source: String, text: String)] = []
        var commands = 0
        func add(_ source: String, _ text: String) { texts.append((source, text)) }
        func add(_ command: String, _ result: ProcessResult) {
            commands += 1
            add("\(command): stdout", result.standardOutput)
            add("\(command): stderr", result.standardError)
        }
        /// Every file under `directory` (binary ones as Latin-1, so any bytes can match).
        func addTree(_ directory: String) {
            guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return }
            while let relative = enumerator.nextObject() as? String {
                let path = "\(directory)/\(relative)"
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                      let data = FileManager.default.contents(atPath: path) else { continue }
                add(path, String(decoding: data, as: UTF8.self) + String(data: data, encoding: .isoLatin1)!)
            }
        }
    }

    @Test func noSecretAppearsInAnythingNarsyncWritesOrShows() throws {
        let collected = Collected()
        let closure = try TestClosure.build(in: nix)

        // The signing key, made by narsync keygen.
        let secretKeyFile = work.appending("signing.sec"), publicKeyFile = work.appending("signing.pub")
        collected.add("keygen", try Subprocess.run(narsyncExecutable, ["keygen", "secrets-test-1", secretKeyFile, publicKeyFile]))
        let serializedKey = try String(contentsOfFile: secretKeyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let keyBase64 = String(serializedKey.split(separator: ":", maxSplits: 1).last ?? "")
        let keyBytes = [UInt8](Data(base64Encoded: keyBase64) ?? Data())
        #expect(keyBytes.count == 64)
        let seed = Array(keyBytes.prefix(32))

        // HTTP credentials, and caches that demand them.
        let token = "tok-\(UUID().uuidString)", password = "pw-\(UUID().uuidString)"
        let tokenFile = work.appending("token"), netrcFile = work.appending("netrc")
        try writePrivate(token + "\n", to: tokenFile)
        try writePrivate("machine 127.0.0.1 login narsync password \(password)\n", to: netrcFile)
        let basic = Data("narsync:\(password)".utf8).base64EncodedString()
        let bearerCache = try HTTPCacheServer(directory: work.appending("http-bearer"), requiredAuthorization: "Bearer \(token)")
        let netrcCache = try HTTPCacheServer(directory: work.appending("http-netrc"), requiredAuthorization: "Basic \(basic)")
        defer { bearerCache.stop(); netrcCache.stop() }

        // AWS: the real key, a session token, a profile in a shared credentials file, a wrong secret.
        let sessionToken = "FwoGZXIvYXdzE\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
        let wrongSecret = "wrong-\(UUID().uuidString)"
        let profileFile = work.appending("aws-credentials")
        try writePrivate("""
            [secrets-campaign]
            aws_access_key_id = \(credentials.accessKeyID)
            aws_secret_access_key = \(credentials.secretAccessKey)

            """, to: profileFile)
        var environment = credentials.added(to: nix.environment)
        environment["AWS_SESSION_TOKEN"] = sessionToken

        // The chain's other sources: a credential_process handing out the real key, an OIDC
        // token for STS web identity, an ECS container authorization token.
        let webIdentityToken = "eyJhbGciOiJSUzI1NiJ9.\(UUID().uuidString).oidc"
        let containerToken = "ecs-\(UUID().uuidString)"
        let tokenFileForSTS = work.appending("web-identity-token")
        try writePrivate(webIdentityToken, to: tokenFileForSTS)
        let process = work.appending("credential-process")
        try writePrivate("""
            #!/bin/sh
            printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}\\n' '\(credentials.accessKeyID)' '\(credentials.secretAccessKey)'
            """, to: process)
        chmod(process, 0o700)
        let awsConfig = work.appending("aws-config")
        try writePrivate("[profile via-process]\ncredential_process = \(process)\n", to: awsConfig)
        let chainOnly = nix.environment.merging(["HOME": work.path, "AWS_EC2_METADATA_DISABLED": "true"]) { $1 }

        let secrets: [(name: String, value: String)] = [
            ("AWS secret access key", credentials.secretAccessKey), ("AWS session token", sessionToken),
            ("web identity token", webIdentityToken), ("container authorization token", containerToken),
            ("wrong AWS secret", wrongSecret), ("bearer token", token), ("netrc password", password),
            ("basic authorization", basic), ("signing key, base64", keyBase64),
            ("signing key seed, base64", Data(seed).base64EncodedString().replacingOccurrences(of: "=", with: "")),
            ("signing key seed, hex", seed.map { String(format: "%02x", $0) }.joined()),
            ("signing key, first 30 bytes", String(keyBase64.prefix(40))),
        ]

        let verbose = ["--log-level", "trace"]
        /// Runs a command in the plain log format, and in JSON too when `json`.
        func run(_ label: String, _ arguments: [String], environment: [String: String], json: Bool = false) throws {
            for format in json ? ["plain", "json"] : ["plain"] {
                let all = arguments + verbose + ["--log-format", format]
                collected.add("\(label) (\(format))", try Subprocess.run(narsyncExecutable, all, environment: environment))
                collected.add("\(label) command line", all.joined(separator: " "))
            }
        }
        let storeArguments = ["--store-root", nix.storeRoot]
        let keyArguments = ["--key-file", secretKeyFile]
        let top = closure.top

        // backfill to every kind of destination, right secrets and wrong ones.
        let metricsFile = work.appending("metrics.prom")
        try run("backfill file", ["backfill", "--to", "file://\(work.appending("file-cache"))", "--metrics-file", metricsFile]
                + keyArguments + storeArguments + [top], environment: environment)
        try run("backfill s3", ["backfill", "--to", s3URL(), "--repair"] + keyArguments + storeArguments + [top],
                environment: credentials.added(to: nix.environment), json: true)
        try run("backfill s3 with a session token", ["backfill", "--to", s3URL()] + keyArguments + storeArguments + [top],
                environment: environment)
        var profileEnvironment = nix.environment
        profileEnvironment["AWS_SHARED_CREDENTIALS_FILE"] = profileFile
        try run("backfill s3 with a profile", ["backfill", "--to", s3URL("&profile=secrets-campaign"), "--repair"]
                + keyArguments + storeArguments + [top], environment: profileEnvironment)
        try run("backfill s3 with --credentials-file", ["backfill", "--to", s3URL("&profile=secrets-campaign"), "--repair",
                "--credentials-file", profileFile] + keyArguments + storeArguments + [top], environment: environment)
        try run("backfill s3 with credential_process", ["backfill", "--to", s3URL(), "--repair", "--aws-config-file", awsConfig,
                "--aws-profile", "via-process"] + keyArguments + storeArguments + [top], environment: chainOnly, json: true)
        // moto's STS and container answers give keys its signature checking refuses: these
        // runs fail, and their tokens must not show in the failure either.
        try run("backfill s3 with web identity", ["backfill", "--to", s3URL(), "--repair"] + keyArguments + storeArguments + [top],
                environment: chainOnly.merging([
                    "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFileForSTS, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/secrets",
                    "AWS_ENDPOINT_URL_STS": "http://\(moto.endpoint)"]) { $1 }, json: true)
        try run("backfill s3 with container credentials", ["backfill", "--to", s3URL(), "--repair"] + keyArguments + storeArguments + [top],
                environment: chainOnly.merging([
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://\(moto.endpoint)/latest/meta-data/iam/security-credentials/default-role",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": containerToken]) { $1 }, json: true)
        var wrongEnvironment = credentials.added(to: nix.environment)
        wrongEnvironment["AWS_SECRET_ACCESS_KEY"] = wrongSecret
        try run("backfill s3 with a wrong secret", ["backfill", "--to", s3URL(), "--repair"] + keyArguments + storeArguments + [top],
                environment: wrongEnvironment, json: true)
        try run("backfill http bearer", ["backfill", "--to", bearerCache.url, "--bearer-token-file", tokenFile]
                + keyArguments + storeArguments + [top], environment: environment, json: true)
        try run("backfill http netrc", ["backfill", "--to", netrcCache.url, "--netrc-file", netrcFile]
                + keyArguments + storeArguments + [top], environment: environment)
        try run("backfill http without the token", ["backfill", "--to", bearerCache.url, "--repair"]
                + keyArguments + storeArguments + [top], environment: environment)
        collected.add("metrics file", (try? String(contentsOfFile: metricsFile, encoding: .utf8)) ?? "")

        // config check, offline and online, of a file naming every secret file.
        let config = work.appending("config.toml")
        try """
            [[destination]]
            url = "\(s3URL("&profile=secrets-campaign"))"
            key-files = ["\(secretKeyFile)"]
            credentials-file = "\(profileFile)"

            [[destination]]
            url = "\(bearerCache.url)"
            key-files = ["\(secretKeyFile)"]
            bearer-token-file = "\(tokenFile)"

            [[destination]]
            url = "\(netrcCache.url)"
            key-files = ["\(secretKeyFile)"]
            netrc-file = "\(netrcFile)"

            """.write(toFile: config, atomically: true, encoding: .utf8)
        for extra in [[], ["--online"]] {
            collected.add("config check \(extra)", try Subprocess.run(narsyncExecutable, ["config", "check", "--config", config] + extra, environment: environment))
        }

        // watch to S3 with metrics, fed by the hook; status while and after it runs.
        let state = work.appending("state"), socket = work.appending("hook.sock")
        let port = try unusedLoopbackPort()
        let watchArguments = ["watch", "--to", s3URL(), "--state-dir", state, "--hook-socket", socket,
                              "--metrics-listen", "127.0.0.1:\(port)", "--recheck-seconds", "1"] + keyArguments + storeArguments + verbose
        for format in ["plain", "json"] {
            // The real keys only: moto refuses a made-up session token.
            let watch = try BackgroundProcess(narsyncExecutable, watchArguments + ["--log-format", format], environment: credentials.added(to: nix.environment),
                                              logFile: work.appending("watch-\(format).log"))
            collected.commands += 1
            #expect(eventually { watch.output.contains("watching") }, "\(watch.output)")
            let built = try nix.build(shellDerivation(name: "secrets-\(format)", script: "echo \(UUID()) > $out"))[0]
            collected.add("hook (\(format))", try Subprocess.run(narsyncExecutable, ["hook", "--socket", socket, built], environment: environment))
            #expect(eventually(timeout: .seconds(30)) { watch.output.contains("published") && watch.output.contains(built) }, "\(watch.output)")
            if let scrape = MetricsScrape.read(port: port) { collected.add("metrics scrape (\(format))", scrape.text) } else {
                Issue.record("no metrics at port \(port)")
            }
            collected.add("watch /proc cmdline", (try? String(contentsOfFile: "/proc/\(watch.process.processIdentifier)/cmdline", encoding: .utf8)) ?? "")
            for extra in [[], ["--json"]] {
                collected.add("status \(extra)", try Subprocess.run(narsyncExecutable, ["status", "--state-dir", state] + storeArguments + extra, environment: environment))
            }
            #expect(watch.stop() == 0)
            collected.add("watch log (\(format))", watch.output)
        }
        collected.add("manifest dump", try Subprocess.checked("sqlite3", ["\(state)/manifest.sqlite", ".dump"]).standardOutput)
        collected.addTree(state)
        collected.addTree(work.appending("file-cache"))
        collected.addTree(work.appending("http-bearer"))
        collected.addTree(work.appending("http-netrc"))

        // Each secret was used: the runs are not vacuous.
        #expect(collected.texts.contains { $0.source.hasPrefix("backfill s3 (plain): stdout") && $0.text.contains("uploaded") })
        #expect(collected.texts.contains { $0.source.hasPrefix("backfill s3 with a wrong secret (plain): stderr") && $0.text.contains("403") })
        #expect(collected.texts.contains { $0.source.hasPrefix("backfill s3 with credential_process (plain)") && $0.text.contains("credential_process") })
        #expect(FileManager.default.fileExists(atPath: "\(work.path)/http-bearer/\(narInfoName(of: top))"))
        #expect(FileManager.default.fileExists(atPath: "\(work.path)/http-netrc/\(narInfoName(of: top))"))

        var hits: [String] = []
        for (source, text) in collected.texts {
            for secret in secrets where text.contains(secret.value) { hits.append("\(secret.name) in \(source)") }
        }
        #expect(hits.isEmpty, "\(hits)")
        let lines = collected.texts.reduce(0) { $0 + $1.text.split(separator: "\n").count }
        let bytes = collected.texts.reduce(0) { $0 + $1.text.utf8.count }
        print("secrets campaign: \(collected.commands) commands, \(collected.texts.count) outputs and files, \(lines) lines, \(bytes) bytes searched for \(secrets.count) secrets: \(hits.count) hits")
    }

    private func writePrivate(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
    }
}

import Foundation

/// A real S3 endpoint for the tests: `moto_server` on a free loopback port, stopped by `stop()`
/// or when released. Starts with signature checking off, as moto does.
public final class MotoServer: @unchecked Sendable {
    public let port: Int
    private let process: Process
    private let logDirectory: TemporaryDirectory

    /// The access key of an IAM user moto lets do anything, once checking is on.
    public struct Credentials: Sendable {
        public var accessKeyID: String
        public var secretAccessKey: String

        /// `environment` with these credentials where AWS tools (and narsync) look for them.
        public func added(to environment: [String: String]) -> [String: String] {
            var environment = environment
            environment["AWS_ACCESS_KEY_ID"] = accessKeyID
            environment["AWS_SECRET_ACCESS_KEY"] = secretAccessKey
            return environment
        }
    }

    /// Starts moto and waits until it answers.
    /// - Parameter environment: extra variables for moto (`MOTO_S3_DEFAULT_MAX_KEYS`, ...).
    public init(environment: [String: String] = [:]) throws {
        logDirectory = try TemporaryDirectory(prefix: "narsync-moto")
        var lastError: Error?
        for _ in 0..<3 {
            let port = try LoopbackListener.freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try Subprocess.which("moto_server"))
            process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let log = logDirectory.appending("moto-\(port).log")
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: log)
            process.standardError = FileHandle(forWritingAtPath: log)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            do {
                try Self.waitUntilAnswering(port: port, process: process, log: log)
                self.port = port
                self.process = process
                return
            } catch {
                // Another process may have taken the port between probe and bind.
                lastError = error
                Self.kill(process)
            }
        }
        throw lastError!
    }

    deinit { stop() }

    /// `host:port`, as an S3 URL's `endpoint=` wants it.
    public var endpoint: String { "127.0.0.1:\(port)" }

    /// Kills moto: SIGKILL, because a child of a Swift test process can inherit a signal mask
    /// that blocks SIGTERM. Polls rather than `waitUntilExit`, which spins off the main thread.
    public func stop() {
        Self.kill(process)
    }

    private static func kill(_ process: Process) {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        for _ in 0..<100 where process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
    }

    /// Turns signature checking on: moto then verifies every request's SigV4 signature against
    /// its IAM users. The first three requests after reset-auth are not checked; they create
    /// the user, its allow-all policy and its access key.
    public func enableSignatureChecking() throws -> Credentials {
        try resetAuth("3")
        let user = "narsync-test"
        _ = try iam(["Action": "CreateUser", "UserName": user])
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
        _ = try iam(["Action": "PutUserPolicy", "UserName": user, "PolicyName": "everything", "PolicyDocument": policy])
        let key = try iam(["Action": "CreateAccessKey", "UserName": user])
        guard let id = Self.element("AccessKeyId", in: key), let secret = Self.element("SecretAccessKey", in: key) else {
            throw TestFailure("moto's CreateAccessKey answer has no key: \(key)")
        }
        return Credentials(accessKeyID: id, secretAccessKey: secret)
    }

    /// Turns signature checking off again.
    public func disableSignatureChecking() throws {
        try resetAuth("inf")
    }

    /// Lets anyone GET the bucket's objects, as a public cache bucket would (Nix 2.8 reads S3
    /// caches over plain HTTP). Needs signature checking off: moto refuses unsigned requests
    /// while it is on.
    public func allowAnonymousReads(bucket: String) throws {
        let policy = """
            {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:HeadObject"],"Resource":"arn:aws:s3:::\(bucket)/*"}]}
            """
        let response = try LoopbackHTTP.request(
            port: port, method: "PUT", target: "/\(bucket)?policy", headers: [("Content-Type", "application/json")],
            body: Array(policy.utf8))
        guard response.status / 100 == 2 else { throw TestFailure("moto refused the bucket policy: \(response.text)") }
    }

    /// What moto wrote to its log, for failure messages.
    public var log: String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: logDirectory.path)) ?? []
        return files.compactMap { try? String(contentsOfFile: logDirectory.appending($0), encoding: .utf8) }.joined()
    }

    private func resetAuth(_ count: String) throws {
        let response = try LoopbackHTTP.request(
            port: port, method: "POST", target: "/moto-api/reset-auth", headers: [("Content-Type", "text/plain")],
            body: Array(count.utf8))
        guard response.status == 200 else { throw TestFailure("moto reset-auth failed: \(response.text)") }
    }

    /// An IAM query API call. Moto routes it by the service in the credential scope; the
    /// signature itself is not checked during the unchecked requests.
    private func iam(_ parameters: [String: String]) throws -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-_.~")
        let form = (parameters.merging(["Version": "2010-05-08"]) { $1 })
            .map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }
            .joined(separator: "&")
        let response = try LoopbackHTTP.request(
            port: port, method: "POST", target: "/",
            headers: [
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAMOTOSETUP/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"),
            ],
            body: Array(form.utf8))
        guard response.status == 200 else { throw TestFailure("moto IAM \(parameters["Action"]!) failed: \(response.text)") }
        return response.text
    }

    private static func element(_ name: String, in xml: String) -> String? {
        guard let start = xml.range(of: "<\(name)>"), let end = xml.range(of: "</\(name)>", range: start.upperBound..<xml.endIndex) else {
            return nil
        }
        return String(xml[start.upperBound..<end.lowerBound])
    }

    private static func waitUntilAnswering(port: Int, process: Process, log: String) throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            guard process.isRunning else {
                throw TestFailure("moto_server exited: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            if let response = try? LoopbackHTTP.request(port: port, method: "GET", target: "/moto-api/"), response.status < 500 {
                return
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw TestFailure("moto_server did not answer on port \(port) within 30 s")
    }
}

/// Runs blocking harness work (starting servers) on a thread of its own, leaving Swift's small
/// cooperative pool free. Not for `#expect`: issues recorded off the test's task belong to
/// no test.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

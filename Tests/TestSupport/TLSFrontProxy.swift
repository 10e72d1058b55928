import Foundation

/// nginx on a free loopback port, terminating TLS (HTTP/2 offered) in front of a plain HTTP
/// server (moto, a test cache server), as a production S3 or cache endpoint stands behind a
/// load balancer. Private to the test: its configuration, pid file, logs and temporary
/// directories are in a temporary directory, and it runs in the foreground as one process,
/// killed by `stop()` or when released.
public final class TLSFrontProxy: @unchecked Sendable {
    public let port: Int
    public let upstreamPort: Int
    private let process: Process
    private let directory: TemporaryDirectory

    /// - Parameters:
    ///   - identity: the server's certificate and key.
    ///   - clientCA: if set, nginx requires a client certificate signed by this CA
    ///     (`ssl_verify_client on`) and answers 400 without one.
    public init(upstreamPort: Int, identity: TestCertificateAuthority.Identity, clientCA: String? = nil) throws {
        self.upstreamPort = upstreamPort
        directory = try TemporaryDirectory(prefix: "narsync-nginx")
        let nginx = (try? Subprocess.which("nginx")) ?? "/usr/sbin/nginx"
        var lastError: Error?
        for _ in 0..<3 {
            let port = try LoopbackListener.freePort()
            let configuration = directory.appending("nginx-\(port).conf")
            try Self.configuration(
                port: port, upstreamPort: upstreamPort, identity: identity, clientCA: clientCA, directory: directory.path
            ).write(toFile: configuration, atomically: true, encoding: .utf8)
            let log = directory.appending("error.log")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: nginx)
            process.arguments = ["-p", directory.path, "-c", configuration, "-e", log]
            _ = FileManager.default.createFile(atPath: directory.appending("output.log"), contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: directory.appending("output.log"))
            process.standardError = FileHandle(forWritingAtPath: directory.appending("output.log"))
            process.standardInput = FileHandle.nullDevice
            try process.run()
            do {
                try Self.waitUntilListening(port: port, process: process, log: log)
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

    /// `127.0.0.1:port`, as an S3 URL's `endpoint=` wants it (with `https://`).
    public var endpoint: String { "127.0.0.1:\(port)" }

    /// nginx's error log and access log, for failure messages.
    public var log: String {
        ["error.log", "access.log", "output.log"].compactMap {
            try? String(contentsOfFile: directory.appending($0), encoding: .utf8)
        }.joined()
    }

    /// The HTTP versions clients used, from the access log (`HTTP/2.0`, `HTTP/1.1`).
    public var protocolsSeen: Set<String> {
        let lines = ((try? String(contentsOfFile: directory.appending("access.log"), encoding: .utf8)) ?? "").split(separator: "\n")
        return Set(lines.compactMap { $0.firstMatch(of: /HTTP\/[0-9.]+/).map { String($0.output) } })
    }

    /// Kills nginx (SIGKILL: a child of the test process may inherit a mask that blocks SIGTERM).
    public func stop() { Self.kill(process) }

    private static func kill(_ process: Process) {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        for _ in 0..<100 where process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
    }

    /// One process, in the foreground; requests streamed to the upstream as they come
    /// (`proxy_request_buffering off`, no body size limit), so multipart parts pass unbuffered.
    private static func configuration(
        port: Int, upstreamPort: Int, identity: TestCertificateAuthority.Identity, clientCA: String?, directory: String
    ) -> String {
        let clientVerification = clientCA.map { "ssl_client_certificate \($0);\n        ssl_verify_client on;" } ?? ""
        return """
            daemon off;
            master_process off;
            worker_processes 1;
            pid \(directory)/nginx.pid;
            events { worker_connections 512; }
            http {
                access_log \(directory)/access.log;
                client_body_temp_path \(directory)/client-body;
                proxy_temp_path \(directory)/proxy;
                fastcgi_temp_path \(directory)/fastcgi;
                uwsgi_temp_path \(directory)/uwsgi;
                scgi_temp_path \(directory)/scgi;
                server {
                    listen 127.0.0.1:\(port) ssl http2;
                    ssl_certificate \(identity.certificateFile);
                    ssl_certificate_key \(identity.privateKeyFile);
                    \(clientVerification)
                    client_max_body_size 0;
                    proxy_request_buffering off;
                    proxy_buffering off;
                    proxy_http_version 1.1;
                    location / {
                        proxy_pass http://127.0.0.1:\(upstreamPort);
                        # The Host the client signed (SigV4), port included; HTTP/2 calls it :authority.
                        proxy_set_header Host $host:$server_port;
                        proxy_set_header Connection "";
                    }
                }
            }
            """
    }

    private static func waitUntilListening(port: Int, process: Process, log: String) throws {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            guard process.isRunning else {
                throw TestFailure("nginx exited: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            if let connection = try? SocketConnection.connect(port: port) {
                connection.close()
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestFailure("nginx did not listen on port \(port) within 15 s")
    }
}

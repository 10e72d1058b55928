import Foundation

/// A private CA made with `openssl` for one test, in its own directory and in no system store,
/// and the certificates it signs: servers' (for 127.0.0.1 and localhost) and clients'.
public struct TestCertificateAuthority: Sendable {
    /// The CA's certificate (PEM): what a client is told to trust.
    public let certificateFile: String
    private let keyFile: String
    private let directory: String

    /// A certificate and its private key (mode 0600), both PEM.
    public struct Identity: Sendable {
        public var certificateFile: String
        public var privateKeyFile: String
    }

    /// Makes a CA named `name` (its files are `<directory>/<name>-ca.pem` and `.key`).
    public init(name: String, in directory: String) throws {
        self.directory = directory
        certificateFile = "\(directory)/\(name)-ca.pem"
        keyFile = "\(directory)/\(name)-ca.key"
        try Self.openssl(
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-keyout", keyFile, "-out", certificateFile, "-subj", "/CN=narsync test CA \(name)",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        chmod(keyFile, 0o600)
    }

    /// A server certificate for 127.0.0.1 and localhost, signed by this CA.
    public func serverIdentity(name: String = "server") throws -> Identity {
        try issue(name: name, extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    }

    /// A client certificate, signed by this CA, for servers that ask for one.
    public func clientIdentity(name: String = "client") throws -> Identity {
        try issue(name: name, extensions: "extendedKeyUsage=clientAuth\n")
    }

    private func issue(name: String, extensions: String) throws -> Identity {
        let base = "\(directory)/\(name)"
        try Self.openssl(
            ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "\(base).key", "-out", "\(base).csr", "-subj", "/CN=\(name)"])
        try ("basicConstraints=CA:FALSE\n" + extensions).write(toFile: "\(base).ext", atomically: true, encoding: .utf8)
        try Self.openssl(
            ["x509", "-req", "-in", "\(base).csr", "-CA", certificateFile, "-CAkey", keyFile, "-CAcreateserial",
             "-days", "2", "-out", "\(base).pem", "-extfile", "\(base).ext"])
        chmod("\(base).key", 0o600)
        return Identity(certificateFile: "\(base).pem", privateKeyFile: "\(base).key")
    }

    private static func openssl(_ arguments: [String]) throws {
        try Subprocess.checked("openssl", arguments)
    }
}

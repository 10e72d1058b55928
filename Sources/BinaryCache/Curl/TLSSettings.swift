import Foundation

/// How a destination's HTTPS connections verify the server, and prove who the client is when
/// the server asks. Verification is never switched off: a server whose certificate does not
/// verify against `caFile` (or the system store) is refused.
struct TLSSettings: Sendable, Equatable {
    /// The PEM bundle of CAs trusted instead of the system store; nil for the system store.
    var caFile: String?
    /// Where `caFile` came from, for messages: "ca-file= in the URL", "AWS_CA_BUNDLE", ...
    var caSource: String
    /// A PEM client certificate sent when the server asks for one (`tls-certificate=`).
    var clientCertificate: String?
    /// Its private key (`tls-private-key=`); refused if group or others may read it.
    var clientPrivateKey: String?

    /// The system store, no client certificate: what plain http:// destinations carry.
    static let systemStore = TLSSettings(caFile: nil, caSource: "the system store")

    /// One place a CA bundle may be named, in the order they are tried.
    struct Candidate {
        var file: String?
        var source: String
    }

    /// The CA bundles a destination may be told to trust, first come first served. `url` is
    /// the destination's `ca-file=`, `configured` its `ca-file` setting (`--ca-file`), `aws`
    /// what the AWS tools read (`AWS_CA_BUNDLE`, a profile's `ca_bundle`; S3 only); then Nix's
    /// `NIX_SSL_CERT_FILE` and `SSL_CERT_FILE`; otherwise the system store.
    static func candidates(
        url: String?, configured: String?, aws: [Candidate], environment: [String: String]
    ) -> [Candidate] {
        [Candidate(file: url, source: "ca-file= in the URL"), Candidate(file: configured, source: "the ca-file setting")]
            + aws
            + ["NIX_SSL_CERT_FILE", "SSL_CERT_FILE"].map { Candidate(file: environment[$0], source: $0) }
    }

    /// The first candidate that names a file, which must be readable; or the system store.
    /// - Throws: `DestinationError.configuration` naming the file and where it was named.
    static func resolve(
        _ candidates: [Candidate], clientCertificate: String? = nil, clientPrivateKey: String? = nil, location: String
    ) throws -> TLSSettings {
        var settings = systemStore
        if let chosen = candidates.first(where: { !($0.file ?? "").isEmpty }), let file = chosen.file {
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw DestinationError.configuration(
                    location, "cannot read the CA bundle \(file) (from \(chosen.source))",
                    hint: "give a readable PEM file of the CA certificates to trust, or unset \(chosen.source)")
            }
            settings = TLSSettings(caFile: file, caSource: "\(file) (from \(chosen.source))")
        }
        try settings.setClientIdentity(certificate: clientCertificate, privateKey: clientPrivateKey, location: location)
        return settings
    }

    /// Checks and records a client certificate and its key: both readable, the key private.
    private mutating func setClientIdentity(certificate: String?, privateKey: String?, location: String) throws {
        guard certificate != nil || privateKey != nil else { return }
        guard let certificate, !certificate.isEmpty else {
            throw DestinationError.configuration(location, "tls-private-key= is given without tls-certificate=")
        }
        guard FileManager.default.isReadableFile(atPath: certificate) else {
            throw DestinationError.configuration(location, "cannot read the client certificate \(certificate) (tls-certificate=)")
        }
        if let privateKey {
            var info = stat()
            guard stat(privateKey, &info) == 0, FileManager.default.isReadableFile(atPath: privateKey) else {
                throw DestinationError.configuration(location, "cannot read the client private key \(privateKey) (tls-private-key=)")
            }
            guard info.st_mode & 0o077 == 0 else {
                throw DestinationError.configuration(
                    location,
                    "the client private key \(privateKey) may be read by group or others (mode \(String(info.st_mode & 0o777, radix: 8)))",
                    hint: "chmod 600 it")
            }
        }
        clientCertificate = certificate
        clientPrivateKey = privateKey
    }

    /// The message of a failed TLS handshake: the host, curl's reason, and the CAs trusted
    /// when the server's certificate did not verify against them.
    func failureMessage(host: String, reason: String, isVerificationFailure: Bool) -> String {
        guard isVerificationFailure else { return "TLS with \(host) failed: \(reason)" }
        return "the certificate of \(host) does not verify against \(caSource): \(reason)"
            + "; if its CA is private, give its PEM file with ca-file= (or AWS_CA_BUNDLE, NIX_SSL_CERT_FILE)"
    }
}

/// The proxy a destination's requests go through: `HTTPS_PROXY`/`https_proxy` for https://,
/// `http_proxy` for http:// (curl ignores `HTTP_PROXY`, which CGI servers set from a request
/// header), `ALL_PROXY` for both, with the hosts of `NO_PROXY`/`no_proxy` reached directly.
/// Taken from the destination's environment rather than left to curl's reading of the
/// process's, so that what a destination is given is what it uses.
struct ProxySettings: Sendable, Equatable {
    var httpsProxy: String?
    var httpProxy: String?
    var noProxy: String?

    init(environment: [String: String]) {
        let first = { (names: [String]) in names.lazy.compactMap { environment[$0] }.first { !$0.isEmpty } }
        httpsProxy = first(["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"])
        httpProxy = first(["http_proxy", "all_proxy", "ALL_PROXY"])
        noProxy = first(["no_proxy", "NO_PROXY"])
    }

    /// The proxy for `url`, or "" for none (which also stops curl reading the environment).
    func proxy(for url: String) -> String {
        (url.hasPrefix("https://") ? httpsProxy : httpProxy) ?? ""
    }
}

@testable import BinaryCache
import Foundation
import Testing
import TestSupport

/// HTTPS through nginx (HTTP/2, a private CA made here with openssl, in no system store) in
/// front of moto and of a test HTTP cache: which CA bundle is trusted and in what order,
/// failures that name the host, client certificates, and a CONNECT proxy.
@Suite(.moto) struct TLSTests {
    let directory: TemporaryDirectory
    /// The CA that signed nginx's certificate, and another that did not.
    let trusted: TestCertificateAuthority
    let other: TestCertificateAuthority
    let server: TestCertificateAuthority.Identity

    init() throws {
        directory = try TemporaryDirectory(prefix: "narsync-tls")
        trusted = try TestCertificateAuthority(name: "trusted", in: directory.path)
        other = try TestCertificateAuthority(name: "other", in: directory.path)
        server = try trusted.serverIdentity()
    }

    /// nginx in front of the suite's moto, and a bucket made through it.
    private func frontedBucket() throws -> (nginx: TLSFrontProxy, bucket: String) {
        let moto = try SharedS3.required(.moto)
        let nginx = try TLSFrontProxy(upstreamPort: moto.server.port, identity: server)
        let bucket = "narsync-\(UUID().uuidString.prefix(8).lowercased())"
        try moto.makeBucket(named: bucket)
        return (nginx, bucket)
    }

    private func httpsURL(_ bucket: String, _ nginx: TLSFrontProxy, parameters: String = "") -> String {
        "s3://\(bucket)?endpoint=https://\(nginx.endpoint)&region=us-east-1&addressing-style=path\(parameters)"
    }

    /// Where a CA bundle can be named, most preferred first, and how to name `file` there.
    private struct Place {
        var name: String
        var url: String
        var configure: (inout DestinationOptions) -> Void
    }

    private func places(_ file: String) -> [Place] {
        let configFile = directory.appending("aws-config-\(UUID().uuidString.prefix(6))")
        return [
            Place(name: "ca-file=", url: "&ca-file=\(file)") { _ in },
            Place(name: "ca-file setting", url: "") { $0.caFile = file },
            Place(name: "AWS_CA_BUNDLE", url: "") { $0.environment["AWS_CA_BUNDLE"] = file },
            Place(name: "profile ca_bundle", url: "") {
                try? "[profile tls]\nregion = us-east-1\nca_bundle = \(file)\n".write(toFile: configFile, atomically: true, encoding: .utf8)
                $0.environment["AWS_CONFIG_FILE"] = configFile
                $0.environment["AWS_PROFILE"] = "tls"
            },
            Place(name: "NIX_SSL_CERT_FILE", url: "") { $0.environment["NIX_SSL_CERT_FILE"] = file },
            Place(name: "SSL_CERT_FILE", url: "") { $0.environment["SSL_CERT_FILE"] = file },
        ]
    }

    /// For each place: the right CA there and the wrong one in every later place works (the
    /// place is honoured, and wins); the wrong CA there and the right one in every later place
    /// fails (the later places are not consulted).
    @Test func everyCAPlaceIsHonouredAndWinsOverTheLaterOnes() throws {
        let moto = try SharedS3.required(.moto)
        let (nginx, bucket) = try frontedBucket()
        defer { nginx.stop() }
        let count = places("").count
        for index in 0..<count {
            for (first, rest, works) in [(trusted, other, true), (other, trusted, false)] {
                let chosen = places(first.certificateFile)[index]
                let later = places(rest.certificateFile)[(index + 1)...]
                let url = httpsURL(bucket, nginx, parameters: chosen.url + later.map(\.url).joined())
                let options = moto.options {
                    chosen.configure(&$0)
                    for place in later { place.configure(&$0) }
                }
                let destination = try S3Destination(url: url, options: options)
                let key = "ca-\(index)-\(works)"
                if works {
                    try destination.put(key: key, contents: Array(key.utf8), contentType: "text/plain")
                    #expect(try destination.read(key: key) == Array(key.utf8), "\(chosen.name)")
                } else {
                    let error = #expect(throws: DestinationError.self, "\(chosen.name) must win") {
                        try destination.put(key: key, contents: [1], contentType: "text/plain")
                    }
                    #expect("\(error.map(String.init(describing:)) ?? "")".contains(first.certificateFile), "\(chosen.name)")
                }
            }
        }
    }

    @Test func anUntrustedCertificateFailsOnceInOneLineNamingTheHost() throws {
        let moto = try SharedS3.required(.moto)
        let (nginx, bucket) = try frontedBucket()
        defer { nginx.stop() }
        // Nothing names a CA: the system store, which does not hold the test CA.
        let destination = try S3Destination(url: httpsURL(bucket, nginx), options: moto.options())
        let error = #expect(throws: DestinationError.self) { try destination.exists(key: "nix-cache-info") }
        let message = "\(error.map(String.init(describing:)) ?? "")"
        #expect(message.contains("the certificate of \(nginx.endpoint) does not verify against the system store"), "\(message)")
        #expect(message.contains("ca-file="), "\(message)")
        #expect(!message.contains("\n"), "\(message)")
        #expect(error?.attempts == 1)
        #expect(error?.isTransient == false)
    }

    @Test func aCABundleThatCannotBeReadIsRefusedBeforeAnyRequest() throws {
        let moto = try SharedS3.required(.moto)
        let missing = directory.appending("missing.pem")
        let error = #expect(throws: DestinationError.self) {
            try S3Destination(
                url: "s3://b?endpoint=https://127.0.0.1:1&region=us-east-1", options: moto.options { $0.environment["AWS_CA_BUNDLE"] = missing })
        }
        #expect("\(error.map(String.init(describing:)) ?? "")".contains("cannot read the CA bundle \(missing) (from AWS_CA_BUNDLE)"))
    }

    @Test func aMultipartNARGoesThroughHTTP2() throws {
        let moto = try SharedS3.required(.moto)
        let (nginx, bucket) = try frontedBucket()
        defer { nginx.stop() }
        let destination = try S3Destination(
            url: httpsURL(bucket, nginx, parameters: "&ca-file=\(trusted.certificateFile)"),
            options: moto.options { $0.partsInFlight = 3 })
        let bytes = pseudoRandomBytes(23 << 20, seed: 14)  // five parts of at most 5 MiB
        try stream(bytes, into: destination.beginUpload(key: "nar/tls.nar.zst", contentType: ContentType.nar, journal: nil))
        #expect(try destination.read(key: "nar/tls.nar.zst") == bytes)
        #expect(try destination.multipartUploads().isEmpty)
        #expect(nginx.protocolsSeen == ["HTTP/2.0"], "\(nginx.log)")
    }

    @Test func aClientCertificateIsSentWhenTheServerRequiresOne() throws {
        let cache = try HTTPCacheServer(directory: directory.appending("cache"))
        defer { cache.stop() }
        let nginx = try TLSFrontProxy(upstreamPort: cache.port, identity: server, clientCA: trusted.certificateFile)
        defer { nginx.stop() }
        let client = try trusted.clientIdentity()
        let base = "https://\(nginx.endpoint)/cache?ca-file=\(trusted.certificateFile)"
        let options = DestinationOptions(environment: [:])

        let identified = try HTTPDestination(
            url: base + "&tls-certificate=\(client.certificateFile)&tls-private-key=\(client.privateKeyFile)", options: options)
        try identified.put(key: "nix-cache-info", contents: Array("StoreDir: /nix/store\n".utf8), contentType: ContentType.cacheInfo)
        #expect(try identified.read(key: "nix-cache-info") == Array("StoreDir: /nix/store\n".utf8))

        let anonymous = try HTTPDestination(url: base, options: options)
        let error = #expect(throws: DestinationError.self) { try anonymous.read(key: "nix-cache-info") }
        let message = "\(error.map(String.init(describing:)) ?? "")"
        #expect(message.contains("HTTP 400: 400 No required SSL certificate was sent"), "\(message)")
        #expect(message.contains("server wants a client certificate: give tls-certificate="), "\(message)")
        // A HEAD's answer has no body to say why: the hint still points at the certificate.
        let checked = #expect(throws: DestinationError.self) { try anonymous.exists(key: "nix-cache-info") }
        #expect("\(checked.map(String.init(describing:)) ?? "")".contains("requires a client certificate, give tls-certificate="))

        // A private key others may read is no longer private.
        chmod(client.privateKeyFile, 0o644)
        let refused = #expect(throws: DestinationError.self) {
            try HTTPDestination(
                url: base + "&tls-certificate=\(client.certificateFile)&tls-private-key=\(client.privateKeyFile)", options: options)
        }
        #expect("\(refused.map(String.init(describing:)) ?? "")".contains("may be read by group or others (mode 644)"))
    }

    @Test func requestsGoThroughTheHTTPSProxyUnlessNoProxyNamesTheHost() throws {
        let moto = try SharedS3.required(.moto)
        let (nginx, bucket) = try frontedBucket()
        defer { nginx.stop() }
        let proxy = try ConnectProxy()
        defer { proxy.stop() }
        let url = httpsURL(bucket, nginx, parameters: "&ca-file=\(trusted.certificateFile)")

        let proxied = try S3Destination(url: url, options: moto.options { $0.environment["HTTPS_PROXY"] = proxy.url })
        try proxied.put(key: "through-proxy", contents: [1, 2, 3], contentType: "text/plain")
        #expect(proxy.tunnelsRequested == [nginx.endpoint])

        let direct = try S3Destination(url: url, options: moto.options {
            $0.environment["https_proxy"] = proxy.url
            $0.environment["NO_PROXY"] = "127.0.0.1"
        })
        #expect(try direct.read(key: "through-proxy") == [1, 2, 3])
        #expect(proxy.tunnelsRequested == [nginx.endpoint])
    }
}

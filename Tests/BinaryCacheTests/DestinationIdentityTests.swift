import BinaryCache
import Foundation
import Testing
import TestSupport

/// A destination's identity: the normalised URL the manifest, the metrics and the logs know it
/// by, with everything that decides where objects go and no secrets.
@Suite struct DestinationIdentityTests {
    private func identity(_ url: String) throws -> String { try DestinationIdentity(parsing: url).url }

    @Test func anS3IdentityHasEndpointRegionAddressingStyleAndProfile() throws {
        #expect(try identity("s3://cache?endpoint=127.0.0.1:9000&scheme=http&region=eu-west-1&profile=ci")
            == "s3://cache?endpoint=http://127.0.0.1:9000&region=eu-west-1&addressing-style=path&profile=ci")
        // AWS: the region names the endpoint; `auto` resolves to the style that applies.
        #expect(try identity("s3://cache") == "s3://cache?region=us-east-1&addressing-style=virtual")
        #expect(try identity("s3://cache.example.org?region=eu-west-1")
            == "s3://cache.example.org?region=eu-west-1&addressing-style=path")
    }

    @Test func oneBucketOnTwoEndpointsOrUnderTwoProfilesIsTwoDestinations() throws {
        let identities = try [
            "s3://cache?endpoint=127.0.0.1:9000&scheme=http",
            "s3://cache?endpoint=127.0.0.1:9001&scheme=http",
            "s3://cache?endpoint=127.0.0.1:9000&scheme=http&profile=other",
            "s3://cache?endpoint=127.0.0.1:9000&scheme=http&region=eu-west-1",
            "s3://cache?endpoint=127.0.0.1:9000&scheme=http&addressing-style=virtual",
            "s3://cache?endpoint=127.0.0.1:9000",
            "s3://cache",
        ].map { try DestinationIdentity(parsing: $0) }
        #expect(Set(identities).count == identities.count, "\(identities)")
        // What they all were known by before: the bucket alone.
        #expect(Set(identities.map(\.formerName)) == ["s3://cache"])
    }

    @Test func oneS3DestinationWrittenTwoWaysIsOneIdentity() throws {
        let forms = [
            "s3://cache?endpoint=127.0.0.1:9000&scheme=http&region=us-east-1",
            "s3://cache/?region=us-east-1&scheme=http&endpoint=127.0.0.1:9000",
            "s3://cache?endpoint=http://127.0.0.1:9000/&addressing-style=path",
            "s3://cache?endpoint=HTTP%3A%2F%2F127.0.0.1%3A9000&storage-class=STANDARD_IA&compression=zstd",
            "s3://cache?endpoint=http://user:password@127.0.0.1:9000&multipart-chunk-size=16777216",
        ]
        let identities = Set(try forms.map { try identity($0) })
        #expect(identities == ["s3://cache?endpoint=http://127.0.0.1:9000&region=us-east-1&addressing-style=path"])
        // Default ports name the same server.
        #expect(try identity("s3://cache?endpoint=https://minio.local:443/s3/") == identity("s3://cache?endpoint=minio.local/s3"))
    }

    @Test func httpAndFileIdentitiesAreNormalisedURLs() throws {
        #expect(try identity("HTTPS://Cache.Example.org:443/nix/?compression=zstd") == "https://cache.example.org/nix")
        #expect(try identity("http://127.0.0.1:8080") == "http://127.0.0.1:8080")
        #expect(try identity("http://127.0.0.1:80/") == "http://127.0.0.1")
        #expect(try identity("file:///srv//cache/./old/../") == "file:///srv/cache")
        #expect(try identity("file:///srv/cache?compression=zstd") == "file:///srv/cache")
        // Unchanged from before for a URL already in normal form: nothing to migrate.
        let file = try DestinationIdentity(parsing: "file:///srv/cache")
        #expect(file.formerName == file.url)
    }

    @Test func anOpenedDestinationHasTheIdentityItsURLGives() throws {
        let directory = try TemporaryDirectory(prefix: "narsync-identity")
        let url = "file://\(directory.path)//cache/"
        #expect(try Destinations.open(url).identity == DestinationIdentity(parsing: url))
        let s3 = "s3://cache?endpoint=127.0.0.1:1&scheme=http"
        let options = DestinationOptions(environment: ["AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"])
        let destination = try Destinations.open(s3, options: options)
        #expect(destination.identity == (try DestinationIdentity(parsing: s3)))
        #expect(!destination.identity.url.contains("secret"))
    }

    @Test func unsupportedURLsHaveNoIdentity() {
        #expect(throws: DestinationError.self) { try DestinationIdentity(parsing: "ftp://cache") }
        #expect(throws: DestinationError.self) { try DestinationIdentity(parsing: "s3://cache?regoin=eu-west-1") }
        #expect(throws: DestinationError.self) { try DestinationIdentity(parsing: "cache") }
    }
}

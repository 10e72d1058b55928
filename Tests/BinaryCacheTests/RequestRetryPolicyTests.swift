@testable import BinaryCache
import Foundation
import Testing

@Suite struct RequestRetryPolicyTests {
    let policy = RequestRetryPolicy(
        maximumAttempts: 5, initialDelay: .milliseconds(100), maximumDelay: .seconds(1), maximumTotalTime: .seconds(10))

    @Test func backoffIsJitteredWithinTheDoublingBound() {
        for attempt in 1...4 {
            let bound = min(Duration.seconds(1), .milliseconds(100) * (1 << (attempt - 1)))
            for _ in 0..<50 {
                let delay = policy.delay(after: attempt, elapsed: .zero)
                #expect(delay != nil && delay! >= .zero && delay! <= bound)
            }
        }
    }

    @Test func givesUpAfterTheAttemptsOrTheTimeBudget() {
        #expect(policy.delay(after: 5, elapsed: .zero) == nil)
        #expect(policy.delay(after: 1, elapsed: .seconds(10)) == nil)
        #expect(policy.delay(after: 1, elapsed: .seconds(5), retryAfter: .seconds(6)) == nil)
    }

    @Test func honoursRetryAfter() {
        #expect(policy.delay(after: 1, elapsed: .zero, retryAfter: .seconds(3))! >= .seconds(3))
        #expect(RequestRetryPolicy.parseRetryAfter("7") == .seconds(7))
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let later = RequestRetryPolicy.parseRetryAfter("Tue, 14 Nov 2023 22:13:40 GMT", now: now)
        #expect(later == .seconds(20))
        #expect(RequestRetryPolicy.parseRetryAfter("soon") == nil)
    }

    @Test func classifiesStatusesAndS3Codes() {
        #expect(RequestRetryPolicy.isTransient(status: 503, errorCode: "SlowDown"))
        #expect(RequestRetryPolicy.isTransient(status: 500, errorCode: nil))
        #expect(RequestRetryPolicy.isTransient(status: 429, errorCode: nil))
        #expect(RequestRetryPolicy.isTransient(status: 400, errorCode: "RequestTimeout"))
        #expect(RequestRetryPolicy.isTransient(status: 200, errorCode: "InternalError"))
        #expect(!RequestRetryPolicy.isTransient(status: 403, errorCode: "SignatureDoesNotMatch"))
        #expect(!RequestRetryPolicy.isTransient(status: 400, errorCode: nil))
        #expect(!RequestRetryPolicy.isTransient(status: 404, errorCode: "NoSuchBucket"))
    }

    @Test func partsGrowSoTenThousandHoldFiveTebibytes() {
        let sizing = PartSizing(initial: DestinationOptions().partSize)
        #expect(sizing.size(ofPart: 1) == 8 << 20)
        #expect(sizing.size(ofPart: 1000) == 8 << 20)
        #expect(sizing.size(ofPart: 1001) == 16 << 20)
        let total = (1...PartSizing.maximumParts).reduce(0) { $0 + sizing.size(ofPart: $1) }
        #expect(total >= 5 << 40)
        #expect((1...PartSizing.maximumParts).allSatisfy { sizing.size(ofPart: $0) <= 5 << 30 })
    }

    /// Cloudflare's proxy takes requests of 100 MB at most: R2's parts stop growing under it,
    /// and 10,000 of them still hold a NAR of more than 600 GiB.
    @Test func partsForR2StayUnderCloudflaresRequestLimit() throws {
        let location = try S3Location(parsing: "s3://cache?region=auto&endpoint=https://0123abcd.r2.cloudflarestorage.com")
        #expect(location.maximumPartSize == 95 << 20)
        #expect(try S3Location(parsing: "s3://cache?region=eu-west-1").maximumPartSize == 5 << 30)
        let sizing = PartSizing(initial: DestinationOptions().partSize, maximum: location.maximumPartSize)
        #expect((1...PartSizing.maximumParts).allSatisfy { sizing.size(ofPart: $0) < 100_000_000 })
        #expect((1...PartSizing.maximumParts).reduce(0) { $0 + sizing.size(ofPart: $1) } > 600 << 30)
        let tooLarge = #expect(throws: DestinationError.self) {
            try S3Destination(
                location: S3Location(parsing: "s3://cache?region=auto&endpoint=https://a.r2.cloudflarestorage.com&multipart-chunk-size=\(128 << 20)"),
                credentials: S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret", source: "test"),
                options: DestinationOptions(environment: [:]))
        }
        #expect("\(tooLarge.map(String.init(describing:)) ?? "")".contains("at most 95 MiB"))
    }
}

@Suite struct S3XMLTests {
    @Test func readsErrorBodies() {
        let body = Array("""
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>SignatureDoesNotMatch</Code><Message>The request signature &amp; so on</Message></Error>
            """.utf8)
        #expect(S3ErrorBody(body)?.code == "SignatureDoesNotMatch")
        #expect(S3ErrorBody(body)?.message == "The request signature & so on")
        #expect(S3ErrorBody(Array("<html>oops</html>".utf8)) == nil)
    }

    @Test func readsRepeatedElements() {
        let xml: Substring = "<R><Contents><Key>a&lt;b</Key></Contents><Contents><Key>c&#x41;</Key></Contents><IsTruncated>false</IsTruncated></R>"
        #expect(S3XML.elements("Contents", in: xml).compactMap { S3XML.value("Key", in: $0) } == ["a<b", "cA"])
        #expect(S3XML.value("IsTruncated", in: xml) == "false")
    }
}

@testable import BinaryCache
import Foundation
import NixStore
import Testing

/// The worked examples of the AWS documentation, "Signature Calculations for the Authorization
/// Header: Transferring Payload in a Single Chunk": same key, same instant, four requests.
@Suite struct SigV4Tests {
    let signer = SigV4Signer(
        credentials: S3Credentials(
            accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", source: "test"),
        region: "us-east-1")
    let timestamp = "20130524T000000Z"
    let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    let host = ("host", "examplebucket.s3.amazonaws.com")

    func request(_ method: String, _ uri: String, query: [(name: String, value: String)] = [], extra: [(name: String, value: String)] = [], payload: String? = nil) -> SigV4Signer.Request {
        let hash = payload ?? emptyHash
        return SigV4Signer.Request(
            method: method, canonicalURI: uri, query: query,
            headers: [host] + extra + [("x-amz-content-sha256", hash), ("x-amz-date", timestamp)], payloadHash: hash)
    }

    @Test func getObjectWithRange() {
        let get = request("GET", "/test.txt", extra: [("Range", "bytes=0-9")])
        let canonical = SigV4Signer.canonicalRequest(get).text
        #expect(canonical == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:\(emptyHash)
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            \(emptyHash)
            """)
        let stringToSign = SigV4Signer.stringToSign(canonical, timestamp: timestamp, scope: "20130524/us-east-1/s3/aws4_request")
        #expect(stringToSign.hasSuffix("\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"))
        #expect(signer.authorization(for: get, timestamp: timestamp) == """
            AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
            SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
            Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41
            """)
    }

    @Test func putObjectWithReservedCharacterInKey() {
        let put = request(
            "PUT", "/" + S3Path.encodeKey("test$file.text"),
            extra: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payload: SHA256Hex.of("Welcome to Amazon S3."))
        #expect(put.canonicalURI == "/test%24file.text")
        #expect(signer.authorization(for: put, timestamp: timestamp).hasSuffix(
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
    }

    @Test func getBucketLifecycleWithValuelessParameter() {
        let get = request("GET", "/", query: [("lifecycle", "")])
        #expect(signer.authorization(for: get, timestamp: timestamp).hasSuffix(
            "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"))
    }

    @Test func listObjectsWithSortedQuery() {
        let list = request("GET", "/", query: [("prefix", "J"), ("max-keys", "2")])
        #expect(SigV4Signer.canonicalQuery(list.query) == "max-keys=2&prefix=J")
        #expect(signer.authorization(for: list, timestamp: timestamp).hasSuffix(
            "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"))
    }

    @Test func encodesEverythingButUnreservedCharacters() {
        #expect(S3Path.encode("a b/c+d~e_f.g-h=ü") == "a%20b%2Fc%2Bd~e_f.g-h%3D%C3%BC")
        #expect(S3Path.encodeKey("nar/1abc.nar.zst") == "nar/1abc.nar.zst")
    }

    @Test func timestampIsUTC() {
        #expect(SigV4Signer.timestamp(Date(timeIntervalSince1970: 1_369_353_600)) == "20130524T000000Z")
    }

    @Test func credentialsNeverShowTheSecret() throws {
        let text = "\(signer.credentials) \(String(reflecting: signer.credentials))"
        var dumped = ""
        dump(signer.credentials, to: &dumped)
        let options = DestinationOptions(environment: ["AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"])
        dump(options, to: &dumped)
        dump(try S3Destination(location: S3Location(parsing: "s3://b"), credentials: signer.credentials, options: options), to: &dumped)
        #expect(!(text + dumped).contains("EXAMPLEKEY"))
        #expect(text.contains("AKIAIOSFODNN7EXAMPLE"))
    }
}

enum SHA256Hex {
    static func of(_ text: String) -> String { SHA256Hasher.hash(Array(text.utf8)).hex }
}

@testable import BinaryCache
import Foundation
import SystemSupport
import Testing
import TestSupport

/// Refreshing against real moto: S3 refusing an expired token, credentials renewed before
/// they expire, multipart uploads that span a refresh.
@Suite(.serialized) struct CredentialRefreshTests {
    /// A world whose proxy answers the first request matching `refuse` with `answer`.
    private func world(
        answering answer: FaultProxy.Fault = .status(400, code: "ExpiredToken"),
        refusingFirst refuse: @escaping @Sendable (String, String) -> Bool
    ) throws -> CredentialWorld {
        let refused = Locked(false)
        return try CredentialWorld { _, method, target in
            guard refuse(method, target) else { return nil }
            return refused.withLock { done in
                defer { done = true }
                return done ? nil : answer
            }
        }
    }

    private func processDestination(_ world: CredentialWorld, lifetime: Int) throws -> S3Destination {
        try world.write(".aws/config", "[profile rotating]\ncredential_process = \(try world.credentialProcess(lifetime: lifetime))\n")
        return try world.destination(world.environment(["AWS_PROFILE": "rotating"]))
    }

    @Test func expiredTokenFetchesNewCredentialsAndRetriesOnce() throws {
        let world = try world { method, target in method == "PUT" && target.contains("a.narinfo") }
        let destination = try processDestination(world, lifetime: 3600)
        try destination.put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        let puts = { world.proxy.requests.filter { $0.method == "PUT" && $0.target.contains("a.narinfo") } }
        #expect(puts().map(\.accessKeyID) == ["AKIAPROC0001", "AKIAPROC0002"])
        // The proxy records a status just after sending it.
        #expect(eventually(timeout: .seconds(2)) { puts().map(\.status) == [400, 200] }, "\(puts())")
        #expect(world.processRuns == 2)
    }

    /// A 403 without a token error means expiry only for credentials about to expire (S3 may
    /// answer so just after): then it is sent once more with new ones; otherwise it is the answer.
    @Test func accessDeniedIsTakenForExpiryOnlyNearTheExpiry() throws {
        let isNarInfoPut: @Sendable (String, String) -> Bool = { method, target in method == "PUT" && target.contains("a.narinfo") }
        let nearExpiry = try world(answering: .status(403, code: "AccessDenied"), refusingFirst: isNarInfoPut)
        try processDestination(nearExpiry, lifetime: 30).put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        #expect(nearExpiry.signingKeys == ["AKIAPROC0001", "AKIAPROC0002"])

        let farFromExpiry = try world(answering: .status(403, code: "AccessDenied"), refusingFirst: isNarInfoPut)
        let longLived = try processDestination(farFromExpiry, lifetime: 3600)
        #expect(throws: DestinationError.self) {
            try longLived.put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        }
        #expect(farFromExpiry.signingKeys == ["AKIAPROC0001"])
        #expect(farFromExpiry.processRuns == 1)
    }

    @Test func expiredTokenOnAPartRetriesThatPartWithNewCredentials() throws {
        let world = try world { method, target in method == "PUT" && target.contains("partNumber=2") }
        let destination = try processDestination(world, lifetime: 3600)
        let upload = try destination.beginUpload(key: "nar/big.nar.zst", contentType: "application/x-nix-nar", journal: nil)
        let part = [UInt8](repeating: 7, count: 5 << 20)
        for _ in 0..<3 { try part.withUnsafeBytes { try upload.write($0) } }
        try upload.commit()
        let parts = world.proxy.requests.filter { $0.target.contains("partNumber=") }
        #expect(parts.filter { $0.fault != nil }.map(\.accessKeyID) == ["AKIAPROC0001"])
        #expect(parts.last(where: { $0.target.contains("partNumber=2") })?.accessKeyID == "AKIAPROC0002")
        #expect(try destination.read(key: "nar/big.nar.zst")?.count == 3 * (5 << 20))
    }

    @Test func shortLivedCredentialsAreRenewedBeforeTheyExpireAndUploadsCarryOn() throws {
        let world = try CredentialWorld()
        // 4 s of life: renewed after 2 s (half the lifetime, less than five minutes).
        let destination = try processDestination(world, lifetime: 4)
        let upload = try destination.beginUpload(key: "nar/spanning.nar.zst", contentType: "application/x-nix-nar", journal: nil)
        let part = [UInt8](repeating: 1, count: 5 << 20)
        try part.withUnsafeBytes { try upload.write($0) }
        Thread.sleep(forTimeInterval: 3)
        try part.withUnsafeBytes { try upload.write($0) }
        try [UInt8]([1, 2, 3]).withUnsafeBytes { try upload.write($0) }
        try upload.commit()
        let keys = world.proxy.requests.filter { $0.method != "GET" }.compactMap(\.accessKeyID)
        #expect(keys.first == "AKIAPROC0001")
        #expect(keys.last != "AKIAPROC0001", "the parts sent after the refresh are signed with the new key: \(keys)")
        #expect(try destination.read(key: "nar/spanning.nar.zst")?.count == 2 * (5 << 20) + 3)
        #expect(destination.credentials.status.refreshFailures == 0)
    }

    @Test func failingRefreshKeepsTheOldKeysUntilExpiryThenFailsTransiently() throws {
        let world = try CredentialWorld()
        // 8 s of life: a refresh is due after 4 s; taken as expired 2 s before the end.
        let destination = try processDestination(world, lifetime: 8)
        // The script disappears: every refresh fails from now on.
        try FileManager.default.removeItem(atPath: world.home.appending("bin/credentials-for-narsync"))
        Thread.sleep(forTimeInterval: 5)
        try destination.put(key: "a.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        #expect(world.signingKeys == ["AKIAPROC0001"])
        let status = destination.credentials.status
        #expect(status.refreshFailures >= 1)
        #expect(status.refreshProblem?.contains("credential_process") == true)
        Thread.sleep(forTimeInterval: 2)
        let error = #expect(throws: DestinationError.self) {
            try destination.put(key: "b.narinfo", contents: [1], contentType: "text/x-nix-narinfo")
        }
        #expect(error?.isTransient == true, "the path waits in the queue, as in an outage")
        #expect(error?.description.contains("expired") == true)
        // Requests meanwhile do not force refreshes past the refresher's backoff.
        let failuresBefore = destination.credentials.status.refreshFailures
        for index in 0..<10 {
            #expect(throws: DestinationError.self) {
                try destination.put(key: "c\(index).narinfo", contents: [1], contentType: "text/x-nix-narinfo")
            }
        }
        #expect(destination.credentials.status.refreshFailures - failuresBefore <= 2)
    }
}

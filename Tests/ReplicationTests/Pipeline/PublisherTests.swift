import BinaryCache
import Foundation
import Logging
import NixStore
import SystemSupport
import Testing
import TestSupport
@testable import Replication

/// The pipeline against a real Nix store and a real directory cache.
@Suite struct PublisherTests {
    let nix: NixEnvironment
    let closure: TestClosure
    let layout: StoreLayout
    let key: SecretKey

    init() throws {
        nix = try NixEnvironment()
        closure = try TestClosure.build(in: nix)
        layout = StoreLayout(root: nix.storeRoot)
        key = try SecretKey.generate(name: "publisher-test-1")
    }

    private func orderedClosure() throws -> [ValidPathInfo] {
        let database = try StoreDatabase(layout: layout)
        return dependencyOrder(try database.closure(of: [try layout.storeDirectory.parsePath(closure.top)]))
    }

    private func publisher(_ destination: any BinaryCacheDestination, jobs: Int = 4) -> (Publisher, BlockingExecutor) {
        let executor = BlockingExecutor(threadCount: jobs, name: "test-upload")
        let publisher = Publisher(
            destination: destination, storeDirectory: layout.storeDirectory, physicalPath: layout.physicalPath(of:),
            options: PublishOptions(signingKeys: [key], jobs: jobs), executor: executor, logger: Logger(label: "test"))
        return (publisher, executor)
    }

    @Test func neverWritesANarInfoBeforeItsNarAndItsReferencesNarInfos() async throws {
        let directory = try TemporaryDirectory()
        let recorder = RecordingDestination(try FileDestination(directory: directory.path))
        let (publisher, executor) = publisher(recorder, jobs: 4)
        defer { executor.shutdown() }
        let paths = try orderedClosure()
        let summary = try await publisher.publish(paths)
        #expect(summary.published.count == 6 && summary.succeeded)

        let events = recorder.events
        for info in paths {
            let narInfoIndex = try #require(events.firstIndex(of: "\(info.path.hashPart).narinfo"))
            let narIndex = try #require(events.firstIndex(of: NarUploader.narKey(for: info)))
            #expect(narIndex < narInfoIndex, "\(info.path): NAR committed before its narinfo")
            for dependency in info.dependencies {
                let dependencyIndex = try #require(events.firstIndex(of: "\(dependency.hashPart).narinfo"))
                #expect(dependencyIndex < narInfoIndex, "\(info.path): \(dependency) announced first")
            }
        }
        #expect(events.first == "nix-cache-info")
    }

    @Test func signsWithOurKeyAndKeepsExistingSignatures() async throws {
        let directory = try TemporaryDirectory()
        let destination = try FileDestination(directory: directory.path)
        var paths = try orderedClosure()
        let upstream = try SecretKey.generate(name: "upstream-1")
        paths[0].signatures = [upstream.sign(pathFingerprint(
            storeDirectory: layout.storeDirectory, path: paths[0].path, narHash: paths[0].narHash,
            narSize: paths[0].narSize, references: paths[0].references))]
        let (publisher, executor) = publisher(destination)
        defer { executor.shutdown() }
        _ = try await publisher.publish(paths)

        let text = String(decoding: try #require(try destination.read(key: "\(paths[0].path.hashPart).narinfo")), as: UTF8.self)
        let narInfo = try NarInfo(parsing: text, storeDirectory: layout.storeDirectory, source: "test")
        #expect(narInfo.signatures.count == 2)
        #expect(narInfo.signatures.contains(paths[0].signatures[0]))
        let fingerprint = narInfo.fingerprint(in: layout.storeDirectory)
        #expect(narInfo.signatures.contains { key.publicKey.verify(signature: $0, message: fingerprint) })
    }

    @Test func aPathGarbageCollectedAfterReadingIsSkippedAndItsReferrersAreNotAnnounced() async throws {
        let directory = try TemporaryDirectory()
        let destination = try FileDestination(directory: directory.path)
        let paths = try orderedClosure()
        // Nix deletes `top`, then `middle-b`, between narsync reading the database and uploading.
        try nix.run("nix-store", ["--store", nix.storeRoot, "--delete", closure.top, closure.outputs["middle-b"]!])
        let (publisher, executor) = publisher(destination, jobs: 2)
        defer { executor.shutdown() }
        let summary = try await publisher.publish(paths)
        #expect(Set(summary.vanished.map { layout.storeDirectory.fullPath(of: $0) }) == [closure.top, closure.outputs["middle-b"]!])
        #expect(summary.published.count == 4)
        #expect(summary.failures.isEmpty, "a vanished path is not a failure: \(summary.failures)")
        #expect(try !destination.exists(key: "\(paths.last!.path.hashPart).narinfo"))
    }

    @Test func pathsAlreadyInTheCacheAreSkippedByListingOrAsking() async throws {
        let directory = try TemporaryDirectory()
        let destination = try FileDestination(directory: directory.path)
        let paths = try orderedClosure()
        let (publisher, executor) = publisher(destination)
        defer { executor.shutdown() }
        _ = try await publisher.publish(Array(paths.prefix(3)))
        #expect(try await publisher.cachedPaths(paths.map(\.path)) == Set(paths.prefix(3).map(\.path)))

        let listing = Publisher(
            destination: destination, storeDirectory: layout.storeDirectory, physicalPath: layout.physicalPath(of:),
            options: PublishOptions(signingKeys: [key], listingThreshold: 1), executor: executor, logger: Logger(label: "test"))
        #expect(try await listing.cachedPaths(paths.map(\.path)) == Set(paths.prefix(3).map(\.path)))

        let second = try await publisher.publish(paths)
        #expect(second.alreadyCached == 3 && second.published.count == 3)
    }
}

/// A real destination that records the order in which objects became visible.
final class RecordingDestination: BinaryCacheDestination {
    private let inner: any BinaryCacheDestination
    private let log = Locked<[String]>([])

    init(_ inner: any BinaryCacheDestination) { self.inner = inner }

    var events: [String] { log.withLock { $0 } }
    var description: String { inner.description }
    var identity: DestinationIdentity { inner.identity }

    func exists(key: String) throws -> Bool { try inner.exists(key: key) }
    func read(key: String) throws -> [UInt8]? { try inner.read(key: key) }
    func listKeys(suffix: String) throws -> Set<String>? { try inner.listKeys(suffix: suffix) }

    func put(key: String, contents: [UInt8], contentType: String) throws {
        try inner.put(key: key, contents: contents, contentType: contentType)
        log.withLock { $0.append(key) }
    }

    var commitsInGroups: Bool { inner.commitsInGroups }

    func putGroup(_ objects: [SmallObject]) throws {
        try inner.putGroup(objects)
        log.withLock { $0.append(contentsOf: objects.map(\.key)) }
    }

    func beginUpload(key: String, contentType: String, journal: (any UploadJournal)?) throws -> any ObjectUpload {
        RecordingUpload(inner: try inner.beginUpload(key: key, contentType: contentType, journal: journal)) {
            self.log.withLock { $0.append(key) }
        }
    }
}

private final class RecordingUpload: ObjectUpload {
    let inner: any ObjectUpload
    let committed: () -> Void
    init(inner: any ObjectUpload, committed: @escaping () -> Void) {
        self.inner = inner
        self.committed = committed
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws { try inner.write(bytes) }
    func commit() throws {
        try inner.commit()
        committed()
    }
    func abort() { inner.abort() }
}

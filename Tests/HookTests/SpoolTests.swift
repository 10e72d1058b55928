import Foundation
import NixStore
import Testing
import TestSupport
@testable import Hook

@Suite struct HookSpoolTests {
    let store = StoreDirectory.standard

    private func request(_ name: String) throws -> HookRequest {
        HookRequest(outputs: [try StorePath(baseName: randomStorePathBaseName(name))], derivation: try StorePath(baseName: randomStorePathBaseName("\(name).drv")))
    }

    private func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    @Test func writesPrivateFilesThatListInOrderAndReadBack() throws {
        let directory = try TemporaryDirectory()
        let spool = Spool(directory: directory.appending("state/spool"))
        #expect(try spool.pending().isEmpty)
        let requests = try (0..<5).map { try request("r\($0)") }
        let paths = try requests.map { try spool.write($0, storeDirectory: store) }

        #expect(mode(spool.directory) == 0o700)
        #expect(paths.allSatisfy { mode($0) == 0o600 })
        let pending = try spool.pending()
        #expect(pending == paths.map { ($0 as NSString).lastPathComponent })
        #expect(try pending.map { try spool.read($0, storeDirectory: store) } == requests)
        // Nothing but the requests: no temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool.directory).sorted() == pending)

        try spool.remove(pending[0])
        #expect(try spool.pending() == Array(pending.dropFirst()))
    }

    @Test func givesRequestsToTheOwnerOfTheSpoolDirectory() throws {
        // Nix runs the hook as root; the service may run as its own user.
        let directory = try TemporaryDirectory()
        let spool = Spool(directory: directory.appending("spool"))
        try createDirectories(spool.directory, mode: 0o700)
        #expect(chown(spool.directory, 65534, 65534) == 0)
        let path = try spool.write(try request("for-nobody"), storeDirectory: store)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_uid == 65534 && info.st_gid == 65534 && info.st_mode & 0o777 == 0o600)
    }

    @Test func ignoresFilesStillBeingWritten() throws {
        let directory = try TemporaryDirectory()
        let spool = Spool(directory: directory.path)
        try Data("half".utf8).write(to: URL(fileURLWithPath: directory.appending(".0001.request.tmp-1-2")))
        try Data("other".utf8).write(to: URL(fileURLWithPath: directory.appending("notes.txt")))
        #expect(try spool.pending().isEmpty)
    }

    @Test func removesTemporaryFilesOfHooksThatDiedOnlyWhenOld() throws {
        let directory = try TemporaryDirectory()
        let spool = Spool(directory: directory.path)
        let abandoned = ".0001.request.tmp-1-2", fresh = ".0002.request.tmp-3-4"
        for name in [abandoned, fresh, ".hidden", "notes.txt"] {
            try Data("half".utf8).write(to: URL(fileURLWithPath: directory.appending(name)))
        }
        let request = try spool.write(try request("kept"), storeDirectory: store)
        let anHourAgo = Date().addingTimeInterval(-3600)
        for name in [abandoned, ".hidden", "notes.txt", (request as NSString).lastPathComponent] {
            try FileManager.default.setAttributes([.modificationDate: anHourAgo], ofItemAtPath: directory.appending(name))
        }

        #expect(spool.removeAbandonedTemporaryFiles() == [abandoned])
        // A hook may still be writing the fresh one; requests and other files are not its business.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            == [".0002.request.tmp-3-4", ".hidden", (request as NSString).lastPathComponent, "notes.txt"].sorted())
    }

    @Test func movesMalformedRequestsAsideWithTheReason() throws {
        let directory = try TemporaryDirectory()
        let spool = Spool(directory: directory.path)
        let good = try spool.write(try request("good"), storeDirectory: store)
        let full = try Data(contentsOf: URL(fileURLWithPath: good))
        try full.prefix(full.count - 3).write(to: URL(fileURLWithPath: directory.appending("0-truncated.request")))
        try Data("#!/bin/sh\nrm -rf /\n".utf8).write(to: URL(fileURLWithPath: directory.appending("1-garbage.request")))

        for name in ["0-truncated.request", "1-garbage.request"] {
            let error = #expect(throws: SpoolError.self) { try spool.read(name, storeDirectory: store) }
            guard case .malformed = error else {
                Issue.record("expected a malformed request, got \(String(describing: error))")
                continue
            }
            let moved = try spool.reject(name, reason: "\(error!)")
            #expect(moved == "\(spool.rejectedDirectory)/\(name)")
            #expect(FileManager.default.fileExists(atPath: moved))
            #expect(try String(contentsOfFile: moved + ".reason", encoding: .utf8).contains(name))
        }
        #expect(try spool.pending() == [(good as NSString).lastPathComponent])
    }
}

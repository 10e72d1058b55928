import ArgumentParser
import BinaryCache
import Foundation
import NixStore
import NarsyncService
import Replication

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what the service has done and has left to do, from its manifest.",
        discussion: """
            For each destination: the last database row handled against the newest one (lag), \
            paths queued and retrying, what is published, multipart uploads in flight and the \
            latest errors with their paths. Reads the manifest only; the service need not run.
            """
    )

    @OptionGroup(title: "Service") var service: ServiceOptions
    @OptionGroup(title: "Store") var store: StoreOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    private struct Report: Encodable {
        var newestDatabaseID: Int64
        var destinations: [Entry]
        struct Entry: Encodable {
            var status: ManifestStatus
            var lag: Int64
            /// S3: where the service's credentials come from and when they expire.
            var credentials: CredentialStatus?
        }
    }

    func run() async throws {
        let layout = try validatingInput { try store.layout() }
        let report = try validatingInput {
            let manifest = try Manifest(stateDirectory: service.stateDirectory, mode: .readOnly)
            let newest = try StoreDatabase(layout: layout).newestID()
            let credentials = CredentialStatusFile.readAll(stateDirectory: service.stateDirectory)
            let entries = try manifest.destinations().map { name in
                let status = try manifest.status(for: name)
                return Report.Entry(status: status, lag: status.lag(newestDatabaseID: newest), credentials: credentials[name])
            }
            return Report(newestDatabaseID: newest, destinations: entries)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        for entry in report.destinations {
            let status = entry.status
            print("""
                \(status.destination)
                  watermark \(status.watermark.map(String.init) ?? "none") of \(report.newestDatabaseID) (lag \(entry.lag))
                  queued \(status.queued) (retrying \(status.retrying)), multipart uploads in flight \(status.uploadsInFlight)
                  published \(status.published) paths, \(ByteCount(UInt64(max(0, status.publishedFileBytes)))) compressed
                """)
            if let credentials = entry.credentials { print("  \(CredentialStatusFile.describe(credentials))") }
            for failure in status.recentErrors {
                print("  error (attempt \(failure.attempts), next \(failure.nextAttemptAt)): \(failure.error)")
            }
        }
    }
}

import Foundation
import NixStore
import Replication
import SystemSupport

/// Where the hook's requests enter: the outputs of a build, read once from the Nix database
/// and handed to every destination's service. Runs on the hook server's thread, which may
/// block; the database connection is opened at the first request and kept.
final class BuildIntake: Sendable {
    private let layout: StoreLayout
    private let busyTimeout: Duration
    private let services: [ReplicationService]
    private let database = Locked<StoreDatabase?>(nil)

    init(layout: StoreLayout, busyTimeout: Duration, services: [ReplicationService]) {
        self.layout = layout
        self.busyTimeout = busyTimeout
        self.services = services
    }

    /// Queues the outputs of a build (those of `derivation` if `outputs` is empty) for every
    /// destination. Blocking.
    /// - Returns: the most paths one destination newly queued.
    func enqueue(outputs: [StorePath], derivation: StorePath?) throws -> Int {
        let built = try database.withLock { database in
            if database == nil { database = try StoreDatabase(layout: layout, busyTimeout: busyTimeout) }
            let paths = outputs.isEmpty ? try derivation.map { try database!.outputs(ofDerivation: $0) } ?? [] : outputs
            return try paths.map { BuiltPath(path: $0, info: try database!.pathInfo($0)) }
        }
        let origin = derivation.map { "post-build hook, \(layout.storeDirectory.fullPath(of: $0))" } ?? "post-build hook"
        return try services.map { try $0.enqueueBuilt(built, origin: origin) }.max() ?? 0
    }
}

import BinaryCache
import Foundation

/// The object a running `narsync gc` keeps in the cache, so that narsync writers publishing
/// into the same cache know to protect what they rely on (see `GCLeaseGuard` and README's
/// "Several writers and gc").
///
/// The protocol, in short: a gc writes the lease, waits `settle` so that every writer has seen
/// it, and only then lists the cache and deletes. While a writer sees a lease it renews the
/// narinfos it skipped because they were cached (so that the gc's re-check before each
/// deletion finds them young and keeps them with their closures), waits `fence`, and checks
/// that the references and NARs of what it is about to announce still exist. A gc re-checks
/// each narinfo's age right before deleting it and deletes within `fence / 2` of that check.
public struct GCLease: Codable, Sendable, Equatable {
    /// Where the lease lives: at the top of the cache, where no Nix key can collide with it.
    public static let key = "narsync-gc.lease"

    /// Unique per gc run.
    public var id: String
    /// Host and pid of the gc, for messages.
    public var holder: String
    /// Seconds since the epoch.
    public var started: Double
    /// A lease not renewed by then belongs to a gc that died; writers and gcs ignore it.
    public var expires: Double
    /// How long a writer waits between renewing or uploading and checking what it relies on.
    public var fenceSeconds: Double

    public init(holder: String, duration: TimeInterval, fence: TimeInterval, now: Date = Date()) {
        id = UUID().uuidString
        self.holder = holder
        started = now.timeIntervalSince1970
        expires = now.timeIntervalSince1970 + duration
        fenceSeconds = fence
    }

    public func isHeld(at now: Date = Date()) -> Bool { now.timeIntervalSince1970 < expires }

    /// The lease in `destination`, or nil if there is none or it cannot be read as one.
    public static func read(from destination: any BinaryCacheDestination) throws -> GCLease? {
        guard let bytes = try destination.read(key: key) else { return nil }
        return try? JSONDecoder().decode(GCLease.self, from: Data(bytes))
    }

    func write(to destination: any BinaryCacheDestination) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try destination.put(key: Self.key, contents: Array(try encoder.encode(self)), contentType: "application/json")
    }
}

/// A gc could not start because another one holds the cache.
public struct GCLeaseHeld: Error, CustomStringConvertible, Sendable {
    public var cache: String
    public var lease: GCLease

    public var description: String {
        let expires = Date(timeIntervalSince1970: lease.expires)
        return "another narsync gc (\(lease.holder)) is collecting \(cache) until \(expires) at the latest; wait for it, or remove \(GCLease.key) from the cache if that gc is known to be dead"
    }
}

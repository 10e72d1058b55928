import BinaryCache
import Foundation
import NixStore
import SystemSupport

/// A writer's side of the gc lease protocol (see `GCLease`), for one `Publisher.publish` call.
///
/// Between deciding to skip a path because the cache has it and announcing a path that
/// references it, a concurrent `narsync gc` may delete it. Before each narinfo write the
/// publisher asks `check`:
/// - without a lease (read again every `recheckInterval`) there is nothing to do: a gc waits
///   longer than that after taking its lease before it lists the cache, so whatever this
///   writer announces before seeing a lease is in the gc's listing, young, and kept with its
///   closure;
/// - with a lease, the first time: every narinfo relied on (skipped as cached, or referenced
///   from outside the batch) is renewed, so the gc's re-check finds
///   it young and keeps it and its closure; a narinfo already gone is reported missing;
/// - with a lease, every time: once `fence` has passed since the renewals and since the
///   group's NARs and referenced narinfos were written, their existence is checked, so a
///   deletion the gc decided on before a renewal or an upload has landed and is seen.
///
/// Missing paths make the group fail with `referenceRemoved`; the publisher then publishes
/// again, and the missing paths, no longer cached, are uploaded anew.
/// Methods block (reads, renewals, the fence): call them on the publisher's executor.
final class GCLeaseGuard: @unchecked Sendable {
    private let destination: any CacheMaintenance
    private let reliedOn: Set<StorePath>
    private let recheckInterval: Duration
    private let lock = NSLock()
    private var lease: GCLease?
    private var checkedAt: ContinuousClock.Instant?
    private var protectedLeaseID: String?
    private var renewedAt: ContinuousClock.Instant?
    private var written: [String: ContinuousClock.Instant] = [:]
    private var removalsFound = false

    /// - Parameter reliedOn: paths this writer will not upload but its narinfos may reference:
    ///   those it skipped because the cache has them, and references outside its batch.
    init?(destination: any BinaryCacheDestination, reliedOn: Set<StorePath>, recheckInterval: Duration) {
        guard let destination = destination as? any CacheMaintenance else { return nil }
        self.destination = destination
        self.reliedOn = reliedOn
        self.recheckInterval = recheckInterval
    }

    /// Whether a gc removed something this writer relied on: the publisher then publishes again.
    var foundRemovals: Bool { lock.withLock { removalsFound } }

    func markFoundRemovals() { lock.withLock { removalsFound = true } }

    /// Notes when an object (a NAR, a narinfo) this writer relies on was written.
    func recordWritten(_ keys: [String]) {
        let now = ContinuousClock.now
        lock.withLock { for key in keys { written[key] = now } }
    }

    /// The relied-on paths a gc has removed, found when a lease first shows up (the others are
    /// renewed); empty otherwise.
    func protectReliedOn() throws -> [StorePath] {
        try lock.withLock {
            guard let lease = try currentLease(), protectedLeaseID != lease.id else { return [] }
            var missing: [StorePath] = []
            for path in reliedOn.sorted() where try !destination.renew(key: CacheKeys.narInfo(path)) {
                missing.append(path)
            }
            renewedAt = .now
            if missing.isEmpty { protectedLeaseID = lease.id } else { removalsFound = true }
            return missing
        }
    }

    /// Called right before narinfos are written: the keys of `references` (narinfos) and
    /// `nars` those narinfos rely on that are missing, once a lease is held; empty otherwise.
    func missingBeforeAnnouncing(references: Set<StorePath>, nars: [String]) throws -> [String] {
        let missingReliedOn = try protectReliedOn()
        if !missingReliedOn.isEmpty { return missingReliedOn.map(CacheKeys.narInfo) }
        let (held, waitUntil): (Bool, ContinuousClock.Instant?) = lock.withLock {
            guard let lease = self.lease else { return (false, nil) }
            let fence = Duration.milliseconds(Int(lease.fenceSeconds * 1000))
            let keys = references.map(CacheKeys.narInfo) + nars
            let latest = ([renewedAt] + keys.map { written[$0] }).compactMap { $0 }.max()
            return (true, latest.map { $0 + fence })
        }
        guard held else { return [] }
        if let waitUntil, waitUntil > .now { Thread.sleep(forTimeInterval: (waitUntil - .now).timeInterval) }
        var missing: [String] = []
        for key in references.map(CacheKeys.narInfo) + nars where try destination.objectInfo(key: key) == nil {
            missing.append(key)
        }
        return missing
    }

    /// The lease, read again when the last read is older than `recheckInterval`. Under `lock`.
    private func currentLease() throws -> GCLease? {
        if let checkedAt, ContinuousClock.now - checkedAt < recheckInterval { return lease?.isHeld() == true ? lease : nil }
        let read = try GCLease.read(from: destination)
        lease = read?.isHeld() == true ? read : nil
        checkedAt = .now
        return lease
    }
}

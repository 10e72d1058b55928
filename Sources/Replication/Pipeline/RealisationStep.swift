import BinaryCache
import Logging
import NixStore
import SystemSupport

/// The pipeline's last step for outputs of content-addressed derivations: once a path's
/// narinfo is in the cache, the realisations Nix recorded for it go there too, as
/// `realisations/<id>.doi` signed with the cache's keys as Nix signs them, so that other
/// machines substitute the derivation's output by the derivation alone.
///
/// It reads Nix's database itself (one connection behind a lock; it runs on the publisher's
/// blocking threads). A failure is logged, naming the object, and does not fail the path: the
/// narinfo is in the cache and serves everyone who asks for the path by name.
public final class RealisationStep: Sendable {
    private let database: Locked<StoreDatabase>
    private let signingKeys: [SecretKey]
    private let storeDirectory: StoreDirectory
    private let logger: Logger

    /// Nil unless the store's database records realisations (`ca-derivations` on).
    public init?(layout: StoreLayout, signingKeys: [SecretKey], logger: Logger) throws {
        let database = try StoreDatabase(layout: layout)
        guard database.schema.hasRealisations else { return nil }
        self.database = Locked(database)
        self.signingKeys = signingKeys
        storeDirectory = layout.storeDirectory
        self.logger = logger
    }

    /// Writes the realisations of `paths`, whose narinfos are in `destination`. Blocking.
    func publish(for paths: [StorePath], to destination: any BinaryCacheDestination) {
        for path in paths {
            do {
                let realisations = try database.withLock { try $0.realisations(of: path) }
                for var realisation in realisations {
                    for key in signingKeys { realisation.sign(with: key) }
                    try destination.put(key: realisation.cacheKey, contents: Array(realisation.json.utf8), contentType: "application/json")
                    logger.info("published realisation", metadata: ["key": "\(realisation.cacheKey)", "path": "\(storeDirectory.fullPath(of: path))"])
                }
            } catch {
                logger.error("could not publish the realisations of \(storeDirectory.fullPath(of: path)): \(error)")
            }
        }
    }
}

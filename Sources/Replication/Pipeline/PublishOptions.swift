import Foundation
import NixStore

/// How a `Publisher` publishes.
public struct PublishOptions: Sendable {
    /// Uploads (NARs and narinfos) in flight at once.
    public var jobs: Int
    /// zstd level, 1 to 19; 3 is Nix's default.
    public var compressionLevel: Int32
    /// libzstd worker threads shared by the uploads compressing at once (default: one per
    /// core, each about 5 MiB while busy; each large NAR gets at least one); 0 compresses on the
    /// uploading thread.
    public var compressionWorkers: Int32
    /// Upload even paths whose narinfo is already in the cache.
    public var repair: Bool
    /// Keys that sign every narinfo; signatures the path already has are kept.
    public var signingKeys: [SecretKey]
    public var cacheInfo: CacheInfo
    /// From this many paths on, list the cache's narinfos once instead of asking for each.
    public var listingThreshold: Int
    /// How often a writer reads the cache's gc lease while publishing (see `GCLeaseGuard`); a
    /// `narsync gc` waits longer than this after taking its lease before it lists the cache.
    public var gcLeaseRecheckInterval: Duration = .seconds(10)

    public init(
        signingKeys: [SecretKey], jobs: Int = 4, compressionLevel: Int32 = 3,
        compressionWorkers: Int32? = nil, repair: Bool = false,
        cacheInfo: CacheInfo = CacheInfo(), listingThreshold: Int = 64
    ) {
        self.signingKeys = signingKeys
        self.jobs = max(1, jobs)
        self.compressionLevel = compressionLevel
        self.compressionWorkers = compressionWorkers ?? Int32(System.coreCount)
        self.repair = repair
        self.cacheInfo = cacheInfo
        self.listingThreshold = listingThreshold
    }
}

/// The `nix-cache-info` file at the top of a cache.
public struct CacheInfo: Sendable, Equatable {
    public var storeDirectory: StoreDirectory
    /// Lets Nix query many paths at once instead of one by one.
    public var wantMassQuery: Bool
    /// Lower is preferred; cache.nixos.org has 40.
    public var priority: Int

    public init(storeDirectory: StoreDirectory = .standard, wantMassQuery: Bool = true, priority: Int = 40) {
        self.storeDirectory = storeDirectory
        self.wantMassQuery = wantMassQuery
        self.priority = priority
    }

    public var rendered: String {
        "StoreDir: \(storeDirectory.path)\nWantMassQuery: \(wantMassQuery ? 1 : 0)\nPriority: \(priority)\n"
    }
}

enum System {
    static var coreCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}

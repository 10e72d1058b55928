import ArgumentParser
import BinaryCache
import Foundation
import Logging
import NixStore
import Replication
import SystemSupport

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a cache serves every path it announces; with --repair, mend it.",
        discussion: """
            Reads every narinfo of a file:// or s3:// cache (an http(s):// cache cannot be \
            listed: give store paths or --paths-from, and their closures are checked) and \
            reports, one line per problem naming the store path:
              malformed          the narinfo does not parse (the line is named)
              missing NAR        the NAR is missing, or its size differs from FileSize
              missing reference  a reference has no narinfo
              unsigned           no signature by a --trusted-public-key (only if given)
              contents           with --check-contents: FileHash, NarHash or NarSize differ
            It also lists, as information, NARs no narinfo names and uploads left in flight. \
            It writes nothing unless asked to repair.

            --repair publishes again, from the local store and signed with --key-file, every \
            broken or missing path the store has (with what the cache lacks of its closure), \
            and removes each narinfo it cannot mend together with every narinfo depending on \
            it, so that the cache stops announcing what it cannot serve. --dry-run shows the plan.

            Exit status: 0 healthy (or fully repaired), 1 problems found (or left), 2 bad input.

            Examples:
              narsync verify file:///srv/cache --trusted-public-key "$(cat /etc/nix/cache.pub)"
              narsync verify 's3://cache?region=eu-west-1' --check-contents --json
              narsync verify file:///srv/cache --repair --key-file /etc/nix/cache.sec --dry-run
              narsync verify https://cache.example.org --paths-from deployed-systems.txt
            """
    )

    @Argument(help: ArgumentHelp("The cache: file:///dir, s3://bucket?..., or http(s)://host/path.", valueName: "cache-url"))
    var cacheURL: String

    @Argument(help: ArgumentHelp("Store paths to check with their closures (needed for http(s):// caches, which cannot be listed).", valueName: "path"))
    var paths: [String] = []

    @Option(name: .customLong("paths-from"), help: ArgumentHelp("A file of store paths to check, one per line.", valueName: "file"))
    var pathsFrom: String?

    @Option(name: .customLong("trusted-public-key"), help: ArgumentHelp(
        "A key (name:base64, as in nix.conf's trusted-public-keys) one of whose signatures each narinfo must carry; repeatable. Without it, signatures are not judged.",
        valueName: "key"))
    var trustedPublicKeys: [String] = []

    @Flag(name: .customLong("check-contents"), help: "Download, decompress and hash every NAR, and compare with FileHash, NarHash and NarSize.")
    var checkContents = false

    @Option(help: "Requests and contents checks in flight at once.")
    var jobs = 16

    @Flag(help: "Print the report as JSON on standard output.")
    var json = false

    @Flag(help: "Mend the cache from the local store: publish again what it has, remove what cannot be mended with its dependents.")
    var repair = false

    @Option(name: .customLong("key-file"), help: ArgumentHelp("With --repair: secret key to sign what is published again; repeatable.", valueName: "file"))
    var keyFiles: [String] = []

    @Flag(name: .customLong("dry-run"), help: "With --repair: print the plan, change nothing.")
    var dryRun = false

    @OptionGroup(title: "Store (for --repair)") var store: StoreOptions
    @OptionGroup(title: "Cache access") var access: CacheAccessOptions
    @OptionGroup(title: "Logging") var logging: LoggingOptions

    func validate() throws {
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 256, not \(jobs)") }
        if repair && keyFiles.isEmpty { throw ValidationError("--repair needs a --key-file to sign what it publishes again") }
        if !repair && (dryRun || !keyFiles.isEmpty) { throw ValidationError("--dry-run and --key-file go with --repair") }
    }

    func run() async throws {
        let interactive = isatty(STDERR_FILENO) == 1 && !json
        let logger = logging.makeLogger(label: "narsync.verify", interactive: interactive)
        // Everything the user can get wrong is checked before the cache is read.
        let layout = try validatingInput { try store.layout() }
        let trustedKeys = try validatingInput { try trustedPublicKeys.map { try PublicKey(parsing: $0) } }
        let signingKeys = try validatingInput { try keyFiles.map { try SecretKey(contentsOfFile: $0) } }
        let storePaths = try validatingInput { try StorePathList.read(paths, from: pathsFrom, storeDirectory: layout.storeDirectory) }
        let destination = try validatingInput { try access.open(cacheURL) }
        let executor = BlockingExecutor(threadCount: jobs, name: "narsync-verify")
        defer { executor.shutdown() }
        _ = try await validatingInput { try await executor.run { try destination.objectInfo(key: CacheKeys.cacheInfo) } }

        let options = VerifyOptions(trustedKeys: trustedKeys, checkContents: checkContents, jobs: jobs, paths: storePaths)
        let progressBar = interactive ? ProgressBar() : nil
        let verifier = CacheVerifier(destination: destination, executor: executor, options: options)
        let report = try await validatingInput { try await verifier.verify(progress: progressBar) }
        progressBar?.finish()
        var output = VerifyReport(cache: "\(destination)", report: report)

        if repair && !report.isHealthy {
            let plan = try await validatingInput {
                try await executor.run {
                    let database = try StoreDatabase(layout: layout)
                    return try RepairPlanner.plan(report, localInfo: database.pathInfo, localClosure: database.closure(of:))
                }
            }
            output.repair = RepairReport(plan: plan, storeDirectory: layout.storeDirectory, dryRun: dryRun)
            if !dryRun {
                output.repair!.failures = await carryOut(plan, destination: destination, signingKeys: signingKeys, layout: layout, executor: executor, logger: logger)
            }
        }
        print(json ? output.json : output.text)
        if !output.isHealthyAfterwards { throw ExitStatus.partialFailure }
    }

    /// Removes what cannot be mended (referrers first), then publishes the rest again through
    /// the one pipeline; returns one line per failure.
    private func carryOut(
        _ plan: RepairPlan, destination: any CacheMaintenance, signingKeys: [SecretKey], layout: StoreLayout,
        executor: BlockingExecutor, logger: Logger
    ) async -> [String] {
        var failures = await NarInfoRemover(destination: destination, executor: executor, jobs: jobs).remove(plan.removals)
        guard !plan.republish.isEmpty else { return failures }
        let options = PublishOptions(
            signingKeys: signingKeys, jobs: min(jobs, 8), repair: true, cacheInfo: CacheInfo(storeDirectory: layout.storeDirectory))
        let publisher = Publisher(
            destination: destination, storeDirectory: layout.storeDirectory, physicalPath: layout.physicalPath(of:),
            options: options, executor: executor, logger: logger)
        do {
            let summary = try await publisher.publish(plan.republish)
            failures += summary.failures.map { $0.message(in: layout.storeDirectory) }
            failures += summary.vanished.map { "\(layout.storeDirectory.fullPath(of: $0)): no longer in the local store" }
        } catch {
            failures.append("cannot publish to \(destination): \(error)")
        }
        return failures
    }
}

/// Store paths from the command line and from a file of one path per line (blank lines and
/// `#` comments ignored), each validated.
enum StorePathList {
    static func read(_ arguments: [String], from file: String?, storeDirectory: StoreDirectory) throws -> [StorePath] {
        var texts = arguments
        if let file {
            guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw StorePathListError(description: "cannot read \(file): \(String(cString: strerror(errno)))")
            }
            texts += contents.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        return try texts.map { try storeDirectory.parsePath($0) }
    }
}

struct StorePathListError: Error, CustomStringConvertible {
    var description: String
}

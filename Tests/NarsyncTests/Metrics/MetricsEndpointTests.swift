import Foundation
import Testing
import TestSupport

/// The Prometheus endpoint, scraped while narsync publishes to an HTTP cache whose uploads a
/// proxy slows down, so that the scrapes see the work in progress.
@Suite(.serialized) struct MetricsEndpointTests {
    let nix: NixEnvironment
    let closure: TestClosure
    let key: (secretKeyFile: String, publicKey: String)
    let server: HTTPCacheServer
    let proxy: FaultProxy

    init() throws {
        nix = try NixEnvironment()
        closure = try TestClosure.build(in: nix)
        key = try nix.generateKey(name: "narsync-metrics-1")
        server = try HTTPCacheServer(directory: nix.directory.appending("http-cache"))
        proxy = try FaultProxy(upstreamPort: server.port) { _, method, _ in method == "PUT" ? .delay(.milliseconds(400)) : nil }
    }

    private var url: String { "http://127.0.0.1:\(proxy.port)" }

    /// Scrapes every 50 ms while `process` runs, and once more if `until` says so.
    private func scrapes(while process: BackgroundProcess, port: Int, until done: (MetricsScrape) -> Bool = { _ in false }) -> [MetricsScrape] {
        var scrapes: [MetricsScrape] = []
        let deadline = ContinuousClock.now + .seconds(120)
        while process.process.isRunning && ContinuousClock.now < deadline {
            if let scrape = MetricsScrape.read(port: port) {
                scrapes.append(scrape)
                if done(scrape) { break }
            }
            usleep(50_000)
        }
        return scrapes
    }

    @Test func aBackfillsCountersGrowWhileItRunsAndEndAtItsSummary() throws {
        let port = try unusedLoopbackPort()
        let metricsFile = nix.directory.appending("backfill.prom")
        let backfill = try BackgroundProcess(narsyncExecutable, [
            "backfill", "--to", url, "--key-file", key.secretKeyFile, "--store-root", nix.storeRoot,
            "--jobs", "1", "--metrics-listen", "127.0.0.1:\(port)", "--metrics-file", metricsFile, closure.top,
        ], environment: nix.environment, logFile: nix.directory.appending("backfill.log"))
        let seen = scrapes(while: backfill, port: port)
        #expect(backfill.stop() == 0, "\(backfill.output)")
        #expect(backfill.output.contains("uploaded 6, already cached 0, failed 0"), "\(backfill.output)")

        let destination = "destination=\"\(url)\""
        let published = seen.map { $0.value("narsync_paths_published_total", destination) ?? 0 }
        // Scraped mid-way: some paths published, not all.
        #expect(published.contains { $0 > 0 && $0 < 6 }, "\(published)")
        #expect(published == published.sorted() && (published.last ?? 0) <= 6, "\(published)")
        let bytesRead = seen.compactMap { $0.value("narsync_nar_bytes_read_total", destination) }
        #expect(bytesRead == bytesRead.sorted())
        #expect(seen.allSatisfy { ($0.value("narsync_paths_failed_total", destination) ?? 0) == 0 })
        // One latency sample per published path.
        if let last = seen.last {
            #expect(last.value("narsync_publication_latency_seconds_count", destination) == last.value("narsync_paths_published_total", destination))
        }

        // The final counts, written when the backfill ended, are the summary's.
        let final = MetricsScrape(text: try String(contentsOfFile: metricsFile, encoding: .utf8))
        #expect(final.value("narsync_paths_published_total", destination) == 6, "\(final.text)")
        #expect(final.value("narsync_paths_skipped_total", destination) == 0)
        #expect(final.value("narsync_paths_failed_total", destination) == 0)
        #expect(final.value("narsync_publication_latency_seconds_count", destination) == 6)
        let paths = try nix.closure(of: closure.top).sorted()
        let narSizes = try nix.run("nix-store", ["--store", nix.storeRoot, "-q", "--size"] + paths).standardOutput
        let narBytes = narSizes.split(separator: "\n").compactMap { Double($0) }.reduce(0, +)
        #expect(final.value("narsync_nar_bytes_read_total", destination) == narBytes)
        let narFiles = try FileManager.default.contentsOfDirectory(atPath: server.directory.appending("/nar"))
        let sent = try narFiles.map { try FileManager.default.attributesOfItem(atPath: "\(server.directory)/nar/\($0)")[.size] as? Int ?? 0 }
        #expect(final.value("narsync_bytes_sent_total", destination) == Double(sent.reduce(0, +)))
        #expect(final.value("narsync_request_retries_total", destination) ?? 0 == 0)
    }

    @Test func theServicesCountersAndGaugesMatchItsManifestOnceTheInitialBackfillIsDone() throws {
        let port = try unusedLoopbackPort()
        let state = nix.directory.appending("state")
        let watch = try BackgroundProcess(narsyncExecutable, [
            "watch", "--to", url, "--key-file", key.secretKeyFile, "--store-root", nix.storeRoot, "--state-dir", state,
            "--initial-backfill", "--jobs", "1", "--metrics-listen", "127.0.0.1:\(port)", "--log-format", "json",
            "--hook-socket", "none",
        ], environment: nix.environment, logFile: nix.directory.appending("watch.log"))
        let destination = "destination=\"\(url)\""
        let status = { () -> String in
            (try? Subprocess.run(narsyncExecutable, ["status", "--state-dir", state, "--store-root", nix.storeRoot, "--json"]))?.standardOutput ?? ""
        }
        // Until the queue is empty and the gauges have caught up.
        let seen = scrapes(while: watch, port: port) { scrape in
            scrape.value("narsync_queue_depth", destination) == 0 && scrape.value("narsync_lag_rows", destination) == 0
                && (scrape.value("narsync_paths_published_total", destination) ?? 0) > 0
        }
        let published = seen.map { $0.value("narsync_paths_published_total", destination) ?? 0 }
        #expect(published.contains { $0 > 0 } && published == published.sorted(), "\(published)")
        #expect(seen.contains { ($0.value("narsync_queue_depth", destination) ?? 0) > 0 }, "the queue was seen non-empty")

        let final = try #require(MetricsScrape.read(port: port))
        let report = try JSONSerialization.jsonObject(with: Data(status().utf8)) as? [String: Any]
        let entry = try #require((report?["destinations"] as? [[String: Any]])?.first?["status"] as? [String: Any])
        #expect(final.value("narsync_paths_published_total", destination) == (entry["published"] as? Double), "\(final.text)\n\(entry)")
        #expect(final.value("narsync_nar_bytes_read_total", destination) == (entry["publishedNarBytes"] as? Double))
        #expect(final.value("narsync_bytes_sent_total", destination) == (entry["publishedFileBytes"] as? Double))
        #expect(final.value("narsync_publication_latency_seconds_count", destination) == (entry["published"] as? Double))
        #expect(final.value("narsync_paths_failed_total", destination) == 0)

        #expect(watch.stop(SIGTERM) == 0)
        // --log-format json: every line a JSON object with a level and a message.
        let lines = watch.output.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(!lines.isEmpty, "\(watch.output)")
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] is String && object?["message"] is String, "\(line)")
        }
        #expect(watch.output.contains("\"message\":\"watching\""), "\(watch.output)")
    }

    @Test func anAddressInUseIsBadInputNamingIt() throws {
        let listener = try LoopbackListener { _ in }
        defer { listener.stop() }
        let result = try Subprocess.run(narsyncExecutable, [
            "backfill", "--to", "file://\(nix.directory.appending("c"))", "--key-file", key.secretKeyFile,
            "--store-root", nix.storeRoot, "--metrics-listen", "127.0.0.1:\(listener.port)", closure.top,
        ], environment: nix.environment)
        #expect(result.status == 2)
        #expect(result.standardError.contains("127.0.0.1:\(listener.port)"), "\(result.standardError)")
    }
}

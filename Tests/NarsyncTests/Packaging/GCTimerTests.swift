import Foundation
import Testing
import TestSupport

/// packaging: `narsync gc` on a systemd timer, and the NixOS module's `services.narsync.gc`.
@Suite struct GCTimerTests {
    @Test func theServiceRunsGCWithTheCacheAndAgeFromItsEnvironmentFile() throws {
        let service = SystemdUnit(try RepositoryFiles.text("packaging/systemd/narsync-gc.service"))
        #expect(service.value("Service", "Type") == "oneshot")
        #expect(service.value("Service", "ExecStart") == "/usr/bin/narsync gc ${NARSYNC_GC_CACHE} $NARSYNC_GC_ARGS")
        #expect(service.value("Service", "EnvironmentFile") == "/etc/narsync/gc.env")
        #expect(service.value("Service", "ProtectSystem") == "strict")
        let timer = SystemdUnit(try RepositoryFiles.text("packaging/systemd/narsync-gc.timer"))
        #expect(timer.value("Timer", "OnCalendar") == "weekly")
        #expect(timer.value("Timer", "Persistent") == "true")
        #expect(timer.value("Install", "WantedBy") == "timers.target")
    }

    @Test(.enabled(if: (try? Subprocess.which("systemd-analyze")) != nil))
    func systemdAnalyzeVerifiesTheServiceAndTimer() throws {
        let directory = try TemporaryDirectory()
        let service = try RepositoryFiles.text("packaging/systemd/narsync-gc.service")
            .replacingOccurrences(of: "/usr/bin/narsync", with: narsyncExecutable)
        try service.write(toFile: directory.appending("narsync-gc.service"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            atPath: RepositoryFiles.path("packaging/systemd/narsync-gc.timer"), toPath: directory.appending("narsync-gc.timer"))
        let result = try Subprocess.run("systemd-analyze", [
            "verify", directory.appending("narsync-gc.service"), directory.appending("narsync-gc.timer"),
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.isEmpty, "\(result.standardError)")
    }

    @Test func theNixOSModuleOffersGCOnATimer() throws {
        let module = try RepositoryFiles.text("packaging/nixos/module.nix")
        for option in ["enable", "olderThan", "keep", "schedule"] {
            #expect(module.contains("\n      \(option) = mkOption") || module.contains("\n      \(option) = mkEnableOption"), "services.narsync.gc.\(option)")
        }
        #expect(module.contains("systemd.timers.narsync-gc"))
        #expect(module.contains("/bin/narsync gc "))
    }
}

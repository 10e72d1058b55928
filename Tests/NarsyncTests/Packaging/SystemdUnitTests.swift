import Foundation
import Testing
import TestSupport

/// packaging/systemd: the unit and its drop-in, read the way systemd reads them.
@Suite struct SystemdUnitTests {
    let unit = try! SystemdUnit(RepositoryFiles.text("packaging/systemd/narsync.service"))

    @Test func runsWatchWithTheConfigurationFileAsANotifyServiceRestartedOnFailure() {
        #expect(unit.value("Service", "Type") == "notify")
        #expect(unit.value("Service", "Restart") == "on-failure")
        #expect(unit.value("Service", "ExecStart") == "/usr/bin/narsync watch --config /etc/narsync/config.toml")
        #expect(unit.value("Service", "ExecReload")?.contains("-HUP $MAINPID") == true)
        #expect(unit.value("Install", "WantedBy") == "multi-user.target")
    }

    @Test func isHardenedAndWritesOnlyItsStateDirectory() {
        #expect(unit.value("Service", "NoNewPrivileges") == "yes")
        #expect(unit.value("Service", "ProtectSystem") == "strict")
        #expect(unit.values("Service", "ReadWritePaths") == ["/var/lib/narsync"])
        #expect(unit.value("Service", "StateDirectory") == "narsync")
        #expect(unit.value("Service", "ProtectHome") == "yes")
        #expect(unit.value("Service", "PrivateTmp") == "yes")
        #expect(unit.values("Service", "ReadOnlyPaths") == ["/nix"])
    }

    @Test func receivesTheSigningKeyAndS3CredentialsAsCredentials() {
        let credentials = unit.values("Service", "LoadCredential")
        #expect(credentials.contains("signing-key:/etc/narsync/signing-key.sec"))
        #expect(credentials.contains("s3-credentials:/etc/narsync/s3-credentials"))
        #expect(unit.values("Service", "Environment").contains("AWS_SHARED_CREDENTIALS_FILE=%d/s3-credentials"))
        // The example configuration names the key where systemd puts it.
        let example = try? RepositoryFiles.text("packaging/examples/config.toml")
        #expect(example?.contains("/run/credentials/narsync.service/signing-key") == true)
    }

    @Test func theHookSocketDropInKeepsTheRuntimeDirectory() throws {
        let dropIn = SystemdUnit(try RepositoryFiles.text("packaging/systemd/narsync.service.d/hook-socket.conf"))
        #expect(dropIn.value("Service", "RuntimeDirectoryPreserve") == "yes")
        #expect(unit.value("Service", "RuntimeDirectory") == "narsync")
    }

    /// systemd's own reading: no unknown directive, no bad value, in the unit or its drop-in.
    /// The unit is verified as installed, with ExecStart pointing at the built narsync.
    @Test(.enabled(if: (try? Subprocess.which("systemd-analyze")) != nil))
    func systemdAnalyzeVerifiesTheUnitAndDropInWithoutAComplaint() throws {
        let directory = try TemporaryDirectory()
        let unitText = try RepositoryFiles.text("packaging/systemd/narsync.service")
            .replacingOccurrences(of: "/usr/bin/narsync", with: narsyncExecutable)
        try unitText.write(toFile: directory.appending("narsync.service"), atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory.appending("narsync.service.d"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: RepositoryFiles.path("packaging/systemd/narsync.service.d/hook-socket.conf"),
            toPath: directory.appending("narsync.service.d/hook-socket.conf"))

        let result = try Subprocess.run("systemd-analyze", ["verify", directory.appending("narsync.service")])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.isEmpty, "\(result.standardError)")
    }

    @Test(.enabled(if: (try? Subprocess.which("systemd-analyze")) != nil))
    func systemdAnalyzeWouldReportAMisspeltDirective() throws {
        let directory = try TemporaryDirectory()
        let misspelt = try RepositoryFiles.text("packaging/systemd/narsync.service")
            .replacingOccurrences(of: "/usr/bin/narsync", with: narsyncExecutable)
            .replacingOccurrences(of: "NoNewPrivileges=", with: "NoNewPrivilege=")
        try misspelt.write(toFile: directory.appending("narsync.service"), atomically: true, encoding: .utf8)
        let result = try Subprocess.run("systemd-analyze", ["verify", directory.appending("narsync.service")])
        #expect(result.standardError.contains("NoNewPrivilege"))
    }
}

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
        // Nothing under /nix is writable: the store and Nix's database are only read.
        #expect(unit.values("Service", "ReadOnlyPaths") == ["/nix"])
        #expect(unit.values("Service", "ReadWritePaths").isEmpty)
        #expect(unit.value("Service", "StateDirectory") == "narsync")
        #expect(unit.value("Service", "StateDirectoryMode") == "0700")
        #expect(unit.value("Service", "ProtectHome") == "yes")
        #expect(unit.value("Service", "PrivateTmp") == "yes")
        #expect(unit.value("Service", "CapabilityBoundingSet") == "")
    }

    /// Its own user, not root: one systemd allocates while it runs, owning its state and
    /// runtime directories only.
    @Test func runsAsADynamicUserWithoutRoot() {
        #expect(unit.value("Service", "DynamicUser") == "yes")
        #expect(unit.values("Service", "User").isEmpty && unit.values("Service", "Group").isEmpty)
        #expect(unit.value("Service", "RuntimeDirectory") == "narsync")
    }

    /// The hook socket: its directory open to look into, the socket given to the group
    /// narsync-hook, which the service joins and whose members it trusts (SO_PEERCRED).
    @Test func givesTheHookSocketToItsGroup() throws {
        #expect(unit.value("Service", "RuntimeDirectoryMode") == "0755")
        #expect(unit.values("Service", "SupplementaryGroups") == ["narsync-hook"])
        #expect(unit.values("Service", "Environment").contains("NARSYNC_HOOK_TRUST_GROUP=narsync-hook"))
        // The example configuration leaves the group to the unit.
        let example = try RepositoryFiles.text("packaging/examples/config.toml")
        #expect(example.contains("trust-groups = []"))
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
        // A mode closing the directory to others would lock the socket group's members out.
        #expect(dropIn.values("Service", "RuntimeDirectoryMode").isEmpty)
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

/// What narsync's database reader has to deal with now that the unit leaves nothing under /nix
/// writable: with no Nix process holding it open, a WAL database on a read-only mount cannot
/// be opened by a plain read-only SQLite connection, because SQLite must create its -shm file.
/// Shown with a read-only bind mount of a real database directory (needs root for the mount
/// namespace).
@Suite(.enabled(if: getuid() == 0 && (try? Subprocess.which("unshare")) != nil && (try? Subprocess.which("sqlite3")) != nil))
struct ReadOnlyDatabaseTests {
    @Test func aWALDatabaseOnAReadOnlyMountWithoutItsShmFileCannotBeOpened() throws {
        let directory = try TemporaryDirectory()
        let database = directory.appending("db.sqlite")
        let create = try Subprocess.run("sqlite3", [database, "pragma journal_mode=wal; create table t(x); insert into t values(1);"])
        #expect(create.status == 0, "\(create.standardError)")
        let read = { (mode: String) throws -> ProcessResult in
            try Subprocess.run("unshare", ["-m", "sh", "-c", """
                mount --bind "$0" "$0" && mount -o remount,bind,\(mode) "$0" && sqlite3 -readonly "file:$0/db.sqlite?mode=ro" 'select count(*) from t'
                """, directory.path])
        }
        let readOnly = try read("ro")
        guard !readOnly.standardError.contains("mount:") else { return }  // no mount namespaces here
        #expect(readOnly.status != 0, "\(readOnly.standardOutput)")
        let writable = try read("rw")
        #expect(writable.status == 0 && writable.trimmedOutput == "1", "\(writable.standardError)")
    }
}

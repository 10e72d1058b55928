import Foundation
import Testing
import TestSupport

/// packaging/debian/build-deb: the package builds from the tested binaries, installs on this
/// Debian machine with dpkg, and what it installed runs.
@Suite(.enabled(if: getuid() == 0, "dpkg -i needs root"))
struct DebianPackageTests {
    @Test func theDebBuildsInstallsAndItsNarsyncChecksTheExampleConfiguration() throws {
        let directory = try TemporaryDirectory()
        let binaries = (narsyncExecutable as NSString).deletingLastPathComponent
        let build = try Subprocess.run(RepositoryFiles.path("packaging/debian/build-deb"), ["--binaries", binaries, "--output", directory.path])
        #expect(build.status == 0, "\(build.standardError)")
        let package = build.trimmedOutput
        #expect(package.hasSuffix(".deb") && FileManager.default.fileExists(atPath: package), "\(build.standardOutput)")

        let contents = try Subprocess.run("dpkg-deb", ["--contents", package]).standardOutput
        for file in ["./usr/bin/narsync", "./usr/bin/narsync-hook", "./lib/systemd/system/narsync.service",
                     "./usr/share/doc/narsync/examples/config.toml", "./usr/share/doc/narsync/narsync.txt"] {
            #expect(contents.contains(file), "\(file) in \(contents)")
        }

        let hadConfigurationDirectory = FileManager.default.fileExists(atPath: "/etc/narsync")
        let install = try Subprocess.run("dpkg", ["--install", package])
        defer {
            _ = try? Subprocess.run("dpkg", ["--purge", "narsync"])
            if !hadConfigurationDirectory { try? FileManager.default.removeItem(atPath: "/etc/narsync") }
        }
        #expect(install.status == 0, "\(install.standardOutput)\(install.standardError)")

        let version = try Subprocess.run("/usr/bin/narsync", ["--version"])
        #expect(version.status == 0 && version.trimmedOutput == "0.1.0", "\(version.standardOutput)\(version.standardError)")
        // postinst made the credentials the unit loads, the key private.
        var info = stat()
        #expect(stat("/etc/narsync/signing-key.sec", &info) == 0 && info.st_mode & 0o077 == 0)
        #expect(FileManager.default.fileExists(atPath: "/etc/narsync/s3-credentials"))

        // The example names the key under /run/credentials, where systemd would put it.
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NARSYNC_") }
        environment["NARSYNC_KEY_FILE"] = "/etc/narsync/signing-key.sec"
        let check = try Subprocess.run("/usr/bin/narsync", [
            "config", "check", "--config", "/usr/share/doc/narsync/examples/config.toml",
        ], environment: environment)
        #expect(check.status == 0, "\(check.standardError)")
        #expect(check.standardOutput.contains("key-files = [\"/etc/narsync/signing-key.sec\"]  # environment NARSYNC_KEY_FILE"))

        if (try? Subprocess.which("systemd-analyze")) != nil {
            let verify = try Subprocess.run("systemd-analyze", ["verify", "/lib/systemd/system/narsync.service"])
            #expect(verify.status == 0 && verify.standardError.isEmpty, "\(verify.standardError)")
        }
    }
}

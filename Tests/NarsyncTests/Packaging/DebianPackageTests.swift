import Foundation
import Testing
import TestSupport

/// packaging/debian/build-deb: the package builds from the tested binaries, installs on this
/// Debian machine with dpkg, and what it installed runs: the programs, their manual pages
/// (read with man) and the unit, which runs the service as a dynamic user.
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
        let manualPages = ["narsync", "narsync-watch", "narsync-backfill", "narsync-status", "narsync-hook", "narsync-keygen",
                           "narsync-config", "narsync-config-check", "narsync-verify", "narsync-gc"]
        for file in ["./usr/bin/narsync", "./usr/bin/narsync-hook", "./lib/systemd/system/narsync.service",
                     "./usr/share/doc/narsync/examples/config.toml", "./usr/share/doc/narsync/narsync.txt",
                     "./usr/share/bash-completion/completions/narsync", "./usr/share/zsh/vendor-completions/_narsync",
                     "./usr/share/fish/vendor_completions.d/narsync.fish"] + manualPages.map({ "./usr/share/man/man1/\($0).1.gz" }) {
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
        // ... and the group the unit gives the hook socket to.
        #expect(try Subprocess.run("getent", ["group", "narsync-hook"]).status == 0)

        // Every command's page renders, without a warning, where man looks for it.
        for page in manualPages {
            let man = try Subprocess.run("man", ["-P", "cat", page], environment: ["PATH": "/usr/bin:/bin", "MANWIDTH": "80", "LANG": "C.UTF-8"])
            #expect(man.status == 0 && man.standardError.isEmpty, "man \(page): \(man.standardError)")
            #expect(man.standardOutput.contains("SYNOPSIS"), "man \(page): \(man.standardOutput)")
            // Its references lead to installed pages.
            for reference in man.standardOutput.matches(of: /(narsync[a-z-]*)\(1\)/) {
                #expect(manualPages.contains(String(reference.output.1)), "man \(page) refers to \(reference.output.0)")
            }
        }
        let watchPage = try Subprocess.run("man", ["-P", "cat", "narsync-watch"], environment: ["PATH": "/usr/bin:/bin", "MANWIDTH": "80"])
        #expect(watchPage.standardOutput.contains("--hook-socket"), "\(watchPage.standardOutput)")
        let mainPage = try Subprocess.run("man", ["-P", "cat", "narsync"], environment: ["PATH": "/usr/bin:/bin", "MANWIDTH": "80"])
        #expect(mainPage.standardOutput.contains("narsync-watch(1)"), "\(mainPage.standardOutput)")
        // The completions are the installed program's: bash's completes a subcommand and its options.
        let completion = try Subprocess.run("bash", ["-c", """
            source /usr/share/bash-completion/completions/narsync
            # As bash calls it: the words, the one completed, then the command, that word and the one before.
            COMP_WORDS=(narsync wat); COMP_CWORD=1; COMP_LINE="narsync wat"; COMP_POINT=${#COMP_LINE}
            COMPREPLY=(); _narsync narsync wat narsync; echo "${COMPREPLY[*]}"
            COMP_WORDS=(narsync watch --hook-s); COMP_CWORD=2; COMP_LINE="narsync watch --hook-s"; COMP_POINT=${#COMP_LINE}
            COMPREPLY=(); _narsync narsync --hook-s watch; echo "${COMPREPLY[*]}"
            """], environment: ["PATH": "/usr/bin:/bin"])
        #expect(completion.standardOutput == "watch\n--hook-socket\n", "\(completion.standardOutput)\(completion.standardError)")

        let unit = SystemdUnit(try String(contentsOfFile: "/lib/systemd/system/narsync.service", encoding: .utf8))
        #expect(unit.value("Service", "DynamicUser") == "yes" && unit.values("Service", "ReadWritePaths").isEmpty)

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

        // Purged, it takes the group with it (its user is dynamic: no file keeps it).
        let purge = try Subprocess.run("dpkg", ["--purge", "narsync"])
        #expect(purge.status == 0, "\(purge.standardError)")
        #expect(try Subprocess.run("getent", ["group", "narsync-hook"]).status != 0)
    }
}

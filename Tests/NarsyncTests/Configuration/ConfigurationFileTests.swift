import Foundation
import Testing
@testable import NarsyncConfiguration
@testable import narsync

/// config.toml is read strictly, and every complaint names the file, the line and the key.
@Suite struct ConfigurationFileTests {
    private func error(_ text: String) -> ConfigurationError? {
        #expect(throws: ConfigurationError.self) { try ConfigurationFile(text: text, path: "/etc/narsync/config.toml") }
    }

    /// Each setting is declared once, in `SettingName`: config.toml, `NARSYNC_*` and `config
    /// check` take it from there, and it must be a flag of `narsync watch`.
    @Test func everySettingIsAFlagOfWatch() {
        let help = WatchCommand.helpMessage(includeHidden: true, columns: 1000)
        for setting in Setting.all {
            #expect(help.contains("--\(setting.flag)"), "config.toml's \(setting.qualifiedKey) has no --\(setting.flag)")
        }
        #expect(Setting.all.count == SettingName.allCases.count)
        #expect(Setting.named(flag: "jobs")?.qualifiedKey == "destination.jobs")
        #expect(Setting.named(flag: "hook-trust-user")?.qualifiedKey == "hook.trust-users")
    }

    /// README's table of keys is checked against the same declaration: a setting added there
    /// and not documented fails here.
    @Test func readmeDocumentsEverySetting() throws {
        let readme = try RepositoryFiles.text("README.md")
        for setting in Setting.all {
            let named = setting.key == setting.flag ? "`\(setting.key)`" : "`\(setting.key)` (`--\(setting.flag)`)"
            #expect(readme.contains(named), "README's configuration table lacks \(named)")
        }
    }

    @Test func readsEveryTableIntoSettings() throws {
        let file = try ConfigurationFile(text: """
            state-dir = "/srv/narsync"
            [store]
            root = "/chroot"
            [watch]
            debounce-ms = 250
            [[destination]]
            url = "s3://bucket?region=eu-west-1"
            key-files = ["/k1", "/k2"]
            """, path: "c.toml")
        #expect(file.service["state-dir"]?.words == ["/srv/narsync"])
        #expect(file.service["store-root"]?.words == ["/chroot"])
        #expect(file.service["debounce-ms"]?.words == ["250"])
        #expect(file.service["debounce-ms"]?.origin == .file("c.toml", line: 5))
        #expect(file.destinations.count == 1)
        #expect(file.destinations[0]["key-file"]?.words == ["/k1", "/k2"])
        #expect(file.destinations[0]["to"]?.origin == .file("c.toml", line: 7))
    }

    @Test func anUnknownKeyIsNamedWithItsLine() {
        let unknown = error("""
            state-dir = "/srv"

            [[destination]]
            url = "file:///c"
            [[destination]]
            url = "file:///d"
            jbos = 4
            """)
        #expect(unknown?.location == "/etc/narsync/config.toml:7")
        #expect(unknown?.message.contains("unknown key 'jbos' in [[destination]]") == true)
        #expect(unknown?.message.contains("jobs") == true)
        #expect(error("[metrcs]\nlisten = 1")?.description.contains(":1: unknown key 'metrcs'") == true)
        // A secret is never a setting: only the file that holds it is.
        #expect(error("[[destination]]\nsecret-key = \"name:c2VjcmV0\"")?.message.contains("unknown key 'secret-key'") == true)
    }

    @Test func aValueOfTheWrongTypeIsNamedWithItsLine() {
        let wrong = error("[watch]\ninitial-backfill = \"yes\"")
        #expect(wrong?.location == "/etc/narsync/config.toml:2")
        #expect(wrong?.message.contains("'watch.initial-backfill' must be true or false") == true)
        #expect(error("[[destination]]\nkey-files = [1, 2]")?.message.contains("array of strings") == true)
        #expect(error("destination = 3")?.message.contains("[[destination]]") == true)
    }

    @Test func aSyntaxErrorIsReportedWithItsLineAndColumn() {
        let syntax = error("state-dir = \"/srv\"\n\n[store\nroot = \"/\"")
        #expect(syntax?.location == "/etc/narsync/config.toml:3")
        #expect(syntax?.message == "not valid TOML: expected ']' after the table's name, found a newline (column 7)")
    }

    /// Found by fuzz/run config: toml++ (TOMLKit) asserted, aborting narsync, on a header without a name.
    @Test func aTableHeaderWithoutANameIsAnErrorNotAnAbort() {
        for (text, line) in [("[[\nestination]]\nurl = \"file:///c\"", 1), ("state-dir = \"/s\"\n[ #store]", 2), ("[", 1), ("a = 1\n\n [[ =", 3), ("\u{FEFF}[#g]", 1), ("a = 1\n\u{3000}[\u{A0}}", 2)] {
            let refused = error(text)
            #expect(refused?.location == "/etc/narsync/config.toml:\(line)", "\(text.debugDescription)")
            #expect(refused?.message.hasPrefix("not valid TOML: expected") == true, "\(String(describing: refused))")
        }
        #expect(throws: Never.self) { try ConfigurationFile(text: "[[ destination ]]\nurl = \"file:///c\"\n[ \"store\" ]\nroot = \"/\"", path: "c.toml") }
    }

    /// Found by fuzz/run config: toml++ (TOMLKit) asserted, aborting narsync, on `}` where an array value belongs.
    @Test func aBraceWhereAnArrayValueBelongsIsAnErrorNotAnAbort() {
        for (text, line) in [("root = [}", 1), ("[[destination]]\nexclude = [\"a\", # c\n }", 3), ("a = \"[\"\nb = [ \n\n}", 4)] {
            let refused = error(text)
            #expect(refused?.location == "/etc/narsync/config.toml:\(line)", "\(text.debugDescription)")
            #expect(refused?.message.contains("expected a value") == true, "\(String(describing: refused))")
        }
        // Braces and brackets in strings and comments are only text.
        #expect(throws: Never.self) {
            try ConfigurationFile(text: "[[destination]]\nexclude = [\"[}\", '[}', \"\"\"\nx[}\"\"\"] # [}\n", path: "c.toml")
        }
    }

    /// Found by fuzz/run config: toml++ (TOMLKit) asserted, aborting narsync, on a malformed
    /// date-time. Dates and times are TOML values of their own types, which no setting takes.
    @Test func aDateOrTimeIsAnErrorNotAnAbort() {
        let malformed = error("state-dir = 3958-05-27TEE")
        #expect(malformed?.location == "/etc/narsync/config.toml:1")
        #expect(malformed?.message.contains("'3958-05-27TEE' is not a valid date or time") == true)
        for (text, line, type) in [("[watch]\ndebounce-ms = 07:32:00", 2, "local time"), ("[[destination]]\ninclude = [1979-05-27]", 2, "array"),
                                   ("log-level = 1979-05-27T07:32:00Z", 1, "offset date-time")] {
            let refused = error(text)
            #expect(refused?.location == "/etc/narsync/config.toml:\(line)", "\(text.debugDescription)")
            #expect(refused?.message.contains("not a value of type \(type) (a date or time is not a value of any setting; quote it") == true,
                    "\(String(describing: refused))")
        }
        // The string ends at its line, where the error is.
        #expect(error("a = \"unclosed\nb = 07:00")?.location == "/etc/narsync/config.toml:1")
        #expect(throws: Never.self) {
            try ConfigurationFile(text: "state-dir = \"2024-01-01T00:00\" # 1979-05-27\n[watch]\ndebounce-ms = 1_000\ngrace-seconds = +1.5e3", path: "c.toml")
        }
    }

    /// KeyLines, the scan that found keys' lines beside TOMLKit, guessed wrong where a key was
    /// not alone on its line; the reader now records each key's line as it reads it.
    @Test func everyKeyIsNamedAtItsOwnLine() {
        #expect(error("[[destination]]\nurl = \"file:///a\"\ninclude = [\n  \"a\",\n  2,\n]")?.location == "/etc/narsync/config.toml:3")
        #expect(error("destination = [\n  { url = \"file:///a\" },\n  { url = \"file:///b\", jbos = 4 },\n]")?.location
                == "/etc/narsync/config.toml:3")
        #expect(error("watch.debounce-ms = 1\nwatch.initial-backfill = 2")?.location == "/etc/narsync/config.toml:2")
        #expect(error("[watch]\n\"initial-backfill\" = \"\"\"\nyes\"\"\"")?.location == "/etc/narsync/config.toml:2")
        #expect(error("[watch]\ninitial-backfill = true\ninitial-backfill = false")?.message.contains("already defined (line 2)") == true)
    }

    /// Found by fuzz/run config: lines were split by Characters, so in a file with CRLF line
    /// ends (one Character each) every key was on line 1.
    @Test func namesLinesOfFilesWithCRLFLineEnds() {
        let unknown = error("state-dir = \"/srv\"\r\n\r\n[[destination]]\r\nurl = \"file:///c\"\r\njbos = 4\r\n")
        #expect(unknown?.location == "/etc/narsync/config.toml:5")
    }

    /// Found by fuzz/run config: toml++'s message quotes the file, control characters included.
    @Test func errorsEscapeControlCharactersOfTheFile() {
        for text in ["[watch]\ninitial-backfill = f\u{1b}[2J", "\"key\\u001b[31m\" = 1"] {
            let refused = error(text)
            #expect(refused.map { !$0.description.unicodeScalars.contains { $0.value < 0x20 } } == true, "\(String(describing: refused))")
        }
    }

    @Test func urlsLoseTheirSecretsButNotTheirPaths() {
        #expect(EffectiveConfiguration.redactedURL("https://alice:hunter2@cache.example/nix")
                == "https://alice:REDACTED@cache.example/nix")
        #expect(EffectiveConfiguration.redactedURL("s3://b?region=x&session-token=abc&secret-key=/k.sec")
                == "s3://b?region=x&session-token=REDACTED&secret-key=/k.sec")
        #expect(EffectiveConfiguration.redactedURL("file:///srv/cache") == "file:///srv/cache")
    }
}

import Foundation
import Logging
import Testing
@testable import narsync

/// The two line formats: journald's priority prefix, and one JSON object per line.
@Suite struct LogFormatTests {
    @Test func journaldLinesCarryTheSyslogPriorityAndNoTimestamp() {
        let handler = LineLogHandler(label: "narsync.watch", style: .journald)
        let line = handler.line(level: .warning, message: "slow upload", metadata: ["path": "/nix/store/x", "attempt": "2"], source: "narsync")
        #expect(line == "<4>warning narsync.watch: slow upload attempt=2 path=/nix/store/x")
        #expect(LineLogHandler.priority(.critical) == 2 && LineLogHandler.priority(.debug) == 7)
        // Only a stderr that is the journal's stream counts.
        #expect(!LineLogHandler.isStandardErrorJournal(["JOURNAL_STREAM": "1:1"]))
        #expect(!LineLogHandler.isStandardErrorJournal([:]))
    }

    @Test func jsonLinesAreObjectsWithLevelMessageAndMetadata() throws {
        let line = LineLogHandler(label: "narsync.backfill", style: .json).line(
            level: .error, message: "failed \"quoted\"\nnext", metadata: ["path": "/nix/store/x"], source: "Replication")
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "error")
        #expect(object["message"] as? String == "failed \"quoted\"\nnext")
        #expect(object["label"] as? String == "narsync.backfill")
        #expect((object["metadata"] as? [String: String])?["path"] == "/nix/store/x")
        #expect((object["time"] as? String)?.contains("T") == true)
    }
}

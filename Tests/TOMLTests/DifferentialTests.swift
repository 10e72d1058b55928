import Foundation
import Testing
import TestSupport
import TOML

/// The reader against Python 3.11's tomllib on `DifferentialDocuments`: python3 runs once for
/// the whole batch; every document must be accepted by both with the same value, or refused by both.
@Suite struct DifferentialTests {
    @Test func agreesWithPythonsTOMLLib() throws {
        let documents = DifferentialDocuments.all
        let input = try JSONSerialization.data(withJSONObject: documents)
        let python = try Subprocess.run("python3", ["-c", TOMLLib.script], input: Array(input))
        try #require(python.status == 0, "python3 (3.11 or later, for tomllib): \(python.standardError)")
        let verdicts = try #require(try JSONSerialization.jsonObject(with: Data(python.outputBytes)) as? [[String: String]])
        try #require(verdicts.count == documents.count)
        var accepted = 0
        for (document, verdict) in zip(documents, verdicts) {
            let ours: String?
            do {
                ours = CanonicalForm.of(try TOMLTable(parsing: document))
            } catch {
                ours = nil
                #expect(verdict["ok"] == nil, "\(document.debugDescription): refused (\(error)), tomllib reads \(verdict["ok"]!)")
            }
            if let ours {
                accepted += 1
                #expect(ours == verdict["ok"], "\(document.debugDescription): tomllib says \(verdict)")
            }
        }
        // The batch has both kinds in numbers.
        #expect(accepted > 100 && documents.count - accepted > 300, "\(accepted) of \(documents.count) accepted")
    }
}

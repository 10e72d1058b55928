import Foundation
import NixStore
import Testing
import TestSupport
@testable import Hook

@Suite struct HookRequestTests {
    let store = StoreDirectory.standard

    private func path(_ name: String) throws -> StorePath { try StorePath(baseName: randomStorePathBaseName(name)) }

    private func parse(_ text: String) throws(HookRequestError) -> HookRequest {
        try HookRequest(parsing: Array(text.utf8), storeDirectory: store)
    }

    @Test func serializesAndParsesBack() throws {
        let request = HookRequest(outputs: [try path("hello-2.12"), try path("hello-2.12-man")], derivation: try path("hello-2.12.drv"))
        let text = String(decoding: request.serialized(storeDirectory: store), as: UTF8.self)
        #expect(text.hasPrefix("narsync-hook 1\ndrv /nix/store/"))
        #expect(text.hasSuffix("\nend\n"))
        #expect(try parse(text) == request)

        // Nix 2.8.0 gives the hook no outputs; the service looks them up by derivation.
        let derivationOnly = HookRequest(outputs: [], derivation: try path("x.drv"))
        #expect(try HookRequest(parsing: derivationOnly.serialized(storeDirectory: store), storeDirectory: store) == derivationOnly)
        #expect(throws: HookRequestError.noPaths) { try parse("narsync-hook 1\nend\n") }

        let withoutDerivation = HookRequest(outputs: [try path("x")])
        #expect(try HookRequest(parsing: withoutDerivation.serialized(storeDirectory: store), storeDirectory: store) == withoutDerivation)
    }

    @Test func keepsEachPathOnce() throws {
        let a = try path("a"), b = try path("b")
        #expect(HookRequest(outputs: [a, b, a, b, a]).outputs == [a, b])
    }

    @Test func everyTruncationIsRejected() throws {
        let bytes = HookRequest(outputs: [try path("a"), try path("b")], derivation: try path("a.drv")).serialized(storeDirectory: store)
        for length in 0..<bytes.count {
            #expect(throws: HookRequestError.self, "prefix of \(length) bytes") {
                try HookRequest(parsing: Array(bytes[..<length]), storeDirectory: store)
            }
        }
    }

    @Test(arguments: [
        "",
        "\n",
        "narsync-hook 2\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\nend\n",
        "narsync-hook 1\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\n",
        "narsync-hook 1\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\nend\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-b\nend\n",
        "narsync-hook 1\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\nend\nextra",
        "narsync-hook 1\nout /etc/passwd\nend\n",
        "narsync-hook 1\nout /nix/store/../etc/passwd\nend\n",
        "narsync-hook 1\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a/../../etc\nend\n",
        "narsync-hook 1\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-*\nend\n",
        "narsync-hook 1\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a;rm\nend\n",
        "narsync-hook 1\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\r\nend\n",
        "narsync-hook 1\nout  /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\nend\n",
        "narsync-hook 1\nout /nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-a\nend\n",
        "narsync-hook 1\nout /gnu/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\nend\n",
        "narsync-hook 1\nOUT /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\nend\n",
        "narsync-hook 1\ndrv /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\nend\n",
        "narsync-hook 1\ndrv /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a.drv\ndrv /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a.drv\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\nend\n",
        "narsync-hook 1\n\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a\nend\n",
    ])
    func rejectsAnythingButAWellFormedRequest(text: String) {
        #expect(throws: HookRequestError.self) { try parse(text) }
    }

    @Test func rejectsBytesThatAreNotUTF8() {
        var bytes = Array("narsync-hook 1\nout /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-a".utf8)
        bytes += [0xff, 0xfe] + Array("\nend\n".utf8)
        #expect(throws: HookRequestError.self) { try HookRequest(parsing: bytes, storeDirectory: store) }
    }

    @Test func limitsSizeAndPathCount() throws {
        let tooLarge = [UInt8](repeating: UInt8(ascii: "a"), count: HookRequest.maximumSize + 1)
        #expect(throws: HookRequestError.tooLarge(tooLarge.count)) { try HookRequest(parsing: tooLarge, storeDirectory: store) }

        // A megabyte-long line is refused without the megabyte landing in the message.
        let longLine = "narsync-hook 1\nout /nix/store/" + String(repeating: "x", count: 1 << 20) + "\nend\n"
        let error = #expect(throws: HookRequestError.self) { try parse(longLine) }
        #expect((error?.description.count ?? .max) < 200)

        let line = "out /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-p\n"
        let lines = (HookRequest.maximumSize - 20) / line.utf8.count
        let maximal = "narsync-hook 1\n" + String(repeating: line, count: lines) + "end\n"
        #expect(try parse(maximal).outputs.count == 1)
        #expect(throws: HookRequestError.self) { try parse("narsync-hook 1\n" + String(repeating: line, count: lines + 2) + "end\n") }
    }

    @Test func parsesPathsInItsOwnStoreDirectoryOnly() throws {
        let other = try StoreDirectory("/gnu/store")
        let request = HookRequest(outputs: [try path("a")])
        let bytes = request.serialized(storeDirectory: other)
        #expect(try HookRequest(parsing: bytes, storeDirectory: other) == request)
        #expect(throws: HookRequestError.self) { try HookRequest(parsing: bytes, storeDirectory: store) }
    }
}

@Suite struct HookInputTests {
    let store = StoreDirectory.standard

    @Test func keepsValidPathsAndNamesEachDroppedOne() throws {
        let a = "/nix/store/" + randomStorePathBaseName("a"), b = "/nix/store/" + randomStorePathBaseName("b")
        let hostile = ["/etc/passwd", "..", "/nix/store/..", "/nix/store/*", "$(reboot)", "`id`", "a;b", "x|y", "/nix/store/\u{1b}[31m-red"]
        let input = HookInput(outputs: ["\(a) \(hostile.joined(separator: " "))\n\(b)\t\(a)"], derivation: nil, storeDirectory: store)
        #expect(input.request?.outputs.map { store.fullPath(of: $0) } == [a, b])
        #expect(input.request?.derivation == nil)
        #expect(input.dropped.count == hostile.count && input.droppedCount == hostile.count)
        // Escape sequences are shown, not sent to the terminal.
        #expect(input.dropped.allSatisfy { !$0.contains("\u{1b}") && !$0.contains("\n") })
    }

    /// Found while fuzzing (the narinfo parser had the same fault): split by Characters, a
    /// "\r\n" (one Character) separated nothing, and both paths around it were dropped.
    @Test func separatesPathsAtCRLFLineEnds() throws {
        let a = "/nix/store/" + randomStorePathBaseName("a"), b = "/nix/store/" + randomStorePathBaseName("b")
        let input = HookInput(outputs: ["\(a)\r\n\(b)\r\n"], derivation: nil, storeDirectory: store)
        #expect(input.request?.outputs.map { store.fullPath(of: $0) } == [a, b])
        #expect(input.dropped.isEmpty)
    }

    @Test func takesTheDerivationOnlyIfItIsADerivationPath() throws {
        let out = "/nix/store/" + randomStorePathBaseName("a")
        let drv = "/nix/store/" + randomStorePathBaseName("a.drv")
        #expect(HookInput(outputs: [out], derivation: drv, storeDirectory: store).request?.derivation.map(store.fullPath(of:)) == drv)
        let notADerivation = HookInput(outputs: [out], derivation: out, storeDirectory: store)
        #expect(notADerivation.request?.derivation == nil && notADerivation.dropped.count == 1)
        let garbage = HookInput(outputs: [out], derivation: "/tmp/x.drv\nout /etc", storeDirectory: store)
        #expect(garbage.request?.derivation == nil && garbage.dropped.count == 1)
    }

    @Test(arguments: ["", "   ", "\n\n", "/", "/nix/store", "/nix/store/", "*", "~/x"])
    func givesNoRequestForNothingValid(text: String) {
        #expect(HookInput(outputs: [text], derivation: "", storeDirectory: store).request == nil)
    }

    @Test func handlesTenThousandPathsAndAMegabyteValue() throws {
        let paths = (0..<10_000).map { "/nix/store/" + randomStorePathBaseName("p\($0)") }
        let input = HookInput(outputs: [paths.joined(separator: " ")], derivation: nil, storeDirectory: store)
        #expect(input.request?.outputs.count == 10_000 && input.dropped.isEmpty)

        let megabyte = String(repeating: "/nix/store/../x ", count: (1 << 20) / 16)
        let garbage = HookInput(outputs: [megabyte], derivation: nil, storeDirectory: store)
        #expect(garbage.request == nil)
        #expect(garbage.droppedCount == (1 << 20) / 16 && garbage.dropped.count == HookInput.describedDropLimit)

        // More valid paths than fit in one request: the request is cut at the size limit.
        let many = (0..<100_000).map { "/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-p\($0)" }
        let cut = HookInput(outputs: [many.joined(separator: " ")], derivation: nil, storeDirectory: store)
        let cutRequest = try #require(cut.request)
        #expect(cutRequest.serialized(storeDirectory: store).count <= HookRequest.maximumSize)
        #expect(try HookRequest(parsing: cutRequest.serialized(storeDirectory: store), storeDirectory: store) == cutRequest)
        #expect(cutRequest.outputs.count + cut.droppedCount == 100_000)
        #expect(cut.dropped.count == 1)

        let oneWord = HookInput(outputs: [String(repeating: "x", count: 1 << 20)], derivation: nil, storeDirectory: store)
        #expect(oneWord.dropped.count == 1 && oneWord.dropped[0].utf8.count < 500)
    }
}

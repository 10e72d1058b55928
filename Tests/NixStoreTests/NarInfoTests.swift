import Foundation
import Testing
@testable import NixStore
import TestSupport

@Suite struct NarInfoTests {
    private let store = StoreDirectory.standard

    /// Copies `paths` (with their closures) into a new file:// cache with `nix copy` and returns
    /// the narinfo text Nix wrote for each path.
    private func narinfosWrittenByNix(for paths: [String], in nix: NixEnvironment) throws -> [String: String] {
        let cache = nix.makeStoreRoot("cache-\(UUID().uuidString)")
        try nix.run("nix", ["copy", "--store", nix.storeRoot, "--to", "file://\(cache)"] + paths)
        var texts: [String: String] = [:]
        for path in paths {
            let hashPart = try store.parsePath(path).hashPart
            texts[path] = try String(contentsOfFile: "\(cache)/\(hashPart).narinfo", encoding: .utf8)
        }
        return texts
    }

    @Test func parsesAndRendersNixsOwnNarinfosByteForByte() throws {
        let nix = try NixEnvironment()
        let top = try TestClosure.build(in: nix).top
        for keyName in ["second-1", "first-1"] {
            let key = try nix.generateKey(name: keyName)
            try nix.run("nix", ["store", "sign", "--store", nix.storeRoot, "--key-file", key.secretKeyFile, top])
        }
        let tree = nix.directory.appending("content-addressed")
        try "some text".write(toFile: tree, atomically: true, encoding: .utf8)
        let contentAddressed = try nix.add(tree)
        let references = try nix.pathInfo(top).references
        #expect(references.contains(top), "the test closure's top path refers to itself")

        let narinfos = try narinfosWrittenByNix(for: Array(Set([top, contentAddressed] + references)), in: nix)
        for (path, text) in narinfos {
            let info = try NarInfo(parsing: text, storeDirectory: store, source: path)
            #expect(info.rendered(in: store) == text, "\(path)")
            let recorded = try nix.pathInfo(path)
            #expect(info.narHash.sri == recorded.narHash)
            #expect(info.narSize == recorded.narSize)
            #expect(info.references.map(store.fullPath(of:)) == recorded.references.sorted())
            #expect(info.deriver.map(store.fullPath(of:)) == recorded.deriver)
            #expect(info.ca == recorded.ca)
        }
        let topInfo = try NarInfo(parsing: narinfos[top]!, storeDirectory: store, source: top)
        #expect(topInfo.references.count == 4)
        #expect(topInfo.signatures.map { $0.prefix { $0 != ":" } } == ["first-1", "second-1"])
        #expect(try NarInfo(parsing: narinfos[contentAddressed]!, storeDirectory: store, source: "ca").ca?.hasPrefix("fixed:r:sha256:") == true)
    }

    @Test func narinfoBuiltFromTheLocalPathIsTheOneNixWrites() throws {
        // What narsync's pipeline does: NAR hash from the files, references and deriver from the
        // database, a signature of its own; only the compressed file's facts are Nix's here.
        let nix = try NixEnvironment()
        let top = try TestClosure.build(in: nix).top
        let key = try nix.generateKey(name: "cache.example.org-1")
        try nix.run("nix", ["store", "sign", "--store", nix.storeRoot, "--key-file", key.secretKeyFile, top])
        let nixText = try #require(try narinfosWrittenByNix(for: [top], in: nix)[top])
        let nixInfo = try NarInfo(parsing: nixText, storeDirectory: store, source: top)

        let recorded = try nix.pathInfo(top)
        let nar = try NarWriter(root: nix.physicalPath(of: top)).hashAndSize()
        var ours = NarInfo(
            storePath: try store.parsePath(top),
            url: nixInfo.url,
            compression: nixInfo.compression,
            fileHash: nixInfo.fileHash,
            fileSize: nixInfo.fileSize,
            narHash: nar.narHash,
            narSize: nar.narSize,
            references: try recorded.references.reversed().map(store.parsePath),
            deriver: try recorded.deriver.map(store.parsePath),
            signatures: [],
            ca: nil
        )
        let secretKey = try SecretKey(contentsOfFile: key.secretKeyFile)
        ours.signatures = [secretKey.sign(ours.fingerprint(in: store))]
        #expect(ours.rendered(in: store) == nixText)
        #expect(ours == nixInfo)
    }

    @Test func findsTheSignaturesMadeByTrustedKeys() throws {
        let trusted = try SecretKey.generate(name: "trusted-1")
        let other = try SecretKey.generate(name: "other-1")
        var info = try NarInfo(parsing: Self.sample, storeDirectory: store, source: "sample")
        let message = info.fingerprint(in: store)
        info.signatures = [other.sign(message), trusted.sign(message), "trusted-1:bm90IGEgc2lnbmF0dXJl"]
        #expect(info.signatures(verifiedBy: [trusted.publicKey], in: store) == [trusted.sign(message)])
        #expect(info.signatures(verifiedBy: [], in: store).isEmpty)
        info.narSize += 1
        #expect(info.signatures(verifiedBy: [trusted.publicKey, other.publicKey], in: store).isEmpty)
    }

    @Test func fingerprintIsNixsFormat() throws {
        let info = try NarInfo(parsing: Self.sample, storeDirectory: store, source: "sample")
        #expect(info.fingerprint(in: store) == "1;/nix/store/7flp919dhp51n4bwr4q5b4xlw79h917g-top;"
            + "sha256:13d5xabp1fm50i1gfrbynfsv0c5rvkb8h5d45ficaa7qw0p88my4;376;"
            + "/nix/store/4j10gxd1xaacsrmsrizj0xmn0m29bzsn-dep,/nix/store/fn41r44gvdwb8yvw60aidpmvg84h1j9p-abc")
        var leaf = info
        leaf.references = []
        #expect(leaf.fingerprint(in: store).hasSuffix(";376;"))
    }

    @Test func readsFieldsAsNixDoes() throws {
        let text = """
            StorePath: /nix/store/7flp919dhp51n4bwr4q5b4xlw79h917g-top
            URL: nar/x.nar
            System: x86_64-linux
            NarHash: sha256-xFeELuD4KMWiK6QViNbcuTCwtbN+ZfdCBKW6cJfqpY0=
            NarSize: 376
            References:
            Deriver: unknown-deriver
            Sig: b:x
            Sig: a:y
            Sig: b:x

            """
        let info = try NarInfo(parsing: text, storeDirectory: store, source: "x")
        #expect(info.compression == "bzip2")
        #expect(info.deriver == nil)
        #expect(info.references.isEmpty)
        #expect(info.fileHash == nil && info.fileSize == nil)
        #expect(info.signatures == ["a:y", "b:x"])
        #expect(info.rendered(in: store).contains("References: \nSig: a:y\nSig: b:x\n"))
        // Without a final newline, too.
        #expect(try NarInfo(parsing: String(text.dropLast()), storeDirectory: store, source: "x") == info)
    }

    /// Found by fuzz/run narinfo: lines were split by Characters, so a value ending in "\r" (the
    /// last line, without a newline) rendered as "\r\n", one Character, and swallowed the next
    /// line when read back: the narinfo narsync wrote was not the one it read.
    @Test func linesEndAtEveryNewlineByteAsInNix() throws {
        let text = Self.sample + "Sig: cache-1:abc\r"
        let info = try NarInfo(parsing: text, storeDirectory: store, source: "x")
        #expect(info.signatures == ["cache-1:abc\r"])
        #expect(try NarInfo(parsing: info.rendered(in: store), storeDirectory: store, source: "rendered") == info)
        // CRLF lines: the "\r" belongs to the value, as in Nix, which makes StorePath invalid.
        let crlf = Self.sample.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(throws: NarInfoError.self) { try NarInfo(parsing: crlf, storeDirectory: store, source: "x") }
    }

    static let sample = """
        StorePath: /nix/store/7flp919dhp51n4bwr4q5b4xlw79h917g-top
        URL: nar/1a35rjks2ka188iyhj2ylp24d1vdxhdhw4mkb2z72bw7vjl9qsdc.nar.xz
        Compression: xz
        FileHash: sha256:1a35rjks2ka188iyhj2ylp24d1vdxhdhw4mkb2z72bw7vjl9qsdc
        FileSize: 244
        NarHash: sha256:13d5xabp1fm50i1gfrbynfsv0c5rvkb8h5d45ficaa7qw0p88my4
        NarSize: 376
        References: 4j10gxd1xaacsrmsrizj0xmn0m29bzsn-dep fn41r44gvdwb8yvw60aidpmvg84h1j9p-abc
        Deriver: 52hq7kz794f9sdgq5if637sjvqgazic8-top.drv

        """

    /// The sample with line `number` (1-based) replaced by `line`, or removed when nil.
    private static func sample(replacingLine number: Int, with line: String?) -> String {
        var lines = sample.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let line { lines[number - 1] = line } else { lines.remove(at: number - 1) }
        return lines.joined(separator: "\n")
    }

    @Test(arguments: [
        (1, "StorePath: /nix/store/short-top", "StorePath"),
        (1, "StorePath: /usr/lib/7flp919dhp51n4bwr4q5b4xlw79h917g-top", "not directly under the store directory"),
        (1, "StorePath /nix/store/7flp919dhp51n4bwr4q5b4xlw79h917g-top", "expected 'Field: value'"),
        (2, "URL:nar/x.nar", "expected a space after 'URL:'"),
        (4, "FileHash: md5:d41d8cd98f00b204e9800998ecf8427e", "FileHash"),
        (5, "FileSize: -1", "FileSize '-1' is not a byte count"),
        (5, "FileSize: 99999999999999999999999", "is not a byte count"),
        (6, "NarHash: sha256:tooshort", "NarHash"),
        (7, "NarSize: 12a", "NarSize '12a' is not a byte count"),
        (8, "References: 4j10gxd1xaacsrmsrizj0xmn0m29bzsn-dep ../../etc/passwd", "References"),
        (9, "Deriver: not a store path", "Deriver"),
        (9, "", "expected 'Field: value'"),
        (9, "URL: nar/again.nar", "'URL' is given twice (first at line 2)"),
    ])
    func namesTheLineOfEachMalformedField(line: Int, text: String, reason: String) throws {
        let source = "https://cache.example.org/7flp919dhp51n4bwr4q5b4xlw79h917g.narinfo"
        let input = Self.sample(replacingLine: line, with: text)
        #expect {
            try NarInfo(parsing: input, storeDirectory: store, source: source)
        } throws: { error in
            guard let error = error as? NarInfoError else { return false }
            return error.line == line && error.source == source && error.reason.contains(reason)
                && error.description.contains("\(source)' is corrupt at line \(line): ")
        }
    }

    @Test(arguments: [(1, "StorePath is missing"), (2, "URL is missing"), (6, "NarHash is missing"), (7, "NarSize is missing or zero")])
    func namesTheMissingField(line: Int, reason: String) throws {
        #expect(throws: NarInfoError(source: "s", line: nil, reason: reason)) {
            try NarInfo(parsing: Self.sample(replacingLine: line, with: nil), storeDirectory: store, source: "s")
        }
    }

    @Test func refusesAZeroNarSize() throws {
        #expect(throws: NarInfoError(source: "s", line: nil, reason: "NarSize is missing or zero")) {
            try NarInfo(parsing: Self.sample(replacingLine: 7, with: "NarSize: 0"), storeDirectory: store, source: "s")
        }
    }

    @Test func neverCrashesOnDamagedText() throws {
        // Every truncation, and every single byte replaced by a troublesome one: each either
        // parses or throws NarInfoError; a crash would end the test process.
        let bytes = Array(Self.sample.utf8)
        var outcomes = (parsed: 0, refused: 0)
        func attempt(_ damaged: [UInt8]) {
            do {
                _ = try NarInfo(parsing: String(decoding: damaged, as: UTF8.self), storeDirectory: store, source: "fuzz")
                outcomes.parsed += 1
            } catch is NarInfoError {
                outcomes.refused += 1
            } catch {
                Issue.record("unexpected error type: \(error)")
            }
        }
        for length in 0...bytes.count { attempt(Array(bytes[..<length])) }
        for index in bytes.indices {
            for replacement: UInt8 in [0, 0x0a, 0x3a, 0x20, 0xff, 0x7f] {
                var damaged = bytes
                damaged[index] = replacement
                attempt(damaged)
            }
        }
        #expect(outcomes.refused > 0 && outcomes.parsed > 0)
    }
}

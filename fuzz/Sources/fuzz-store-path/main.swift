import FuzzSupport
import NixStore

// Store paths, from the database, the hook, a narinfo or the command line: a valid one is
// `<32 nix32>-<name>` with a name of safe characters, renders back to its input, and no
// error message carries a control character.

fuzz { bytes in
    let text = String(decoding: bytes, as: UTF8.self)
    do {
        let path = try StorePath(baseName: text)
        require(path.baseName == text, "the base name \(path.baseName.debugDescription) is not the input")
        require(path.hashPart.utf8.count == 32 && path.hashPart.utf8.allSatisfy(NixBase32.isDigit), "hash part \(path.hashPart)")
        require(!path.name.isEmpty && path.name.utf8.count <= StorePath.maximumNameLength, "name \(path.name)")
        require(path.baseName.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") }, "unsafe byte in \(text.debugDescription)")
        let full = StoreDirectory.standard.fullPath(of: path)
        require((try? StoreDirectory.standard.parsePath(full)) == path, "\(full) does not parse back")
    } catch {
        requirePrintable("\(error)", "the store path error")
    }

    // `<store directory>\n<full path>`: any store directory, any path in it.
    let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
    guard lines.count == 2 else { return }
    do {
        let directory = try StoreDirectory(String(lines[0]))
        require(directory.path == lines[0], "the store directory is not its input")
        let path = try directory.parsePath(String(lines[1]))
        require(directory.fullPath(of: path) == lines[1], "\(path) in \(directory) renders differently from \(lines[1].debugDescription)")
    } catch {
        requirePrintable("\(error)", "the store directory error")
    }
}

import Foundation
import FuzzSupport
import Hook
import NixStore

// A spool file, written by a crashed hook, another program or an attacker with access to the
// directory: Spool.read must give exactly what HookRequest(parsing:) gives, a malformed file
// must move to rejected/ with a one-line reason, and a request written by Spool.write must
// read back unchanged.

let store = StoreDirectory.standard
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("narsync-fuzz-spool-\(getpid())").path
let spool = Spool(directory: directory + "/spool")
try! FileManager.default.createDirectory(atPath: spool.directory, withIntermediateDirectories: true)
atexit { try? FileManager.default.removeItem(atPath: directory) }
let name = "00000000000000000001-1-fuzz.request"

fuzz { bytes in
    let path = spool.directory + "/" + name
    require(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)")
    require((try? spool.pending()) == [name], "the spool does not list the one request")
    let expected = Result { try HookRequest(parsing: bytes, storeDirectory: store) }
    let request: HookRequest
    do throws(SpoolError) {
        request = try spool.read(name, storeDirectory: store)
    } catch {
        guard case .malformed = error else {
            require(false, "a readable file is \(error)")
            return
        }
        require((try? expected.get()) == nil, "the spool refuses what the parser takes: \(error)")
        requirePrintable("\(error)", "the spool error")
        let target = try! spool.reject(name, reason: "\(error)")
        let reasonText = try! String(contentsOfFile: target + ".reason", encoding: .utf8)
        require(reasonText.hasSuffix("\n"), "the reason file does not end its line")
        requirePrintable(String(reasonText.dropLast()), "the reason file")
        try! FileManager.default.removeItem(atPath: target)
        try! FileManager.default.removeItem(atPath: target + ".reason")
        require((try? spool.pending()) == [], "the spool is not empty")
        return
    }
    require((try? expected.get()) == request, "the spool reads \(request), the parser \(expected)")
    try! spool.remove(name)
    let written = try! spool.write(request, storeDirectory: store)
    let writtenName = String(written.split(separator: "/").last!)
    require((try? spool.read(writtenName, storeDirectory: store)) == request, "a written request reads back differently")
    try! spool.remove(writtenName)
    require((try? spool.pending()) == [], "the spool is not empty")
}

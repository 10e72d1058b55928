import FuzzSupport
import NixStore

// A narinfo from a cache: NarInfo(parsing:) must refuse it with a one-line error or give a
// NarInfo that renders to text it parses back to, unchanged, and renders the same again.

let store = StoreDirectory.standard
let key = try! SecretKey.generate(name: "fuzz-1")

fuzz { bytes in
    let text = String(decoding: bytes, as: UTF8.self)
    let info: NarInfo
    do {
        info = try NarInfo(parsing: text, storeDirectory: store, source: "fuzz")
    } catch {
        requirePrintable("\(error)", "the error")
        return
    }
    let rendered = info.rendered(in: store)
    let reparsed: NarInfo
    do {
        reparsed = try NarInfo(parsing: rendered, storeDirectory: store, source: "rendered")
    } catch {
        require(false, "the rendered narinfo does not parse: \(error)\n\(rendered.debugDescription)")
        return
    }
    require(reparsed == info, "the rendered narinfo parses to another: \(rendered.debugDescription)")
    require(reparsed.rendered(in: store) == rendered, "rendering is not stable: \(rendered.debugDescription)")

    // Signatures: hostile Sig values never verify with a key made at start, nor crash; ours verifies.
    require(info.signatures(verifiedBy: [key.publicKey], in: store).isEmpty, "a signature not made by the key verifies")
    var signed = info
    signed.signatures = [key.sign(info.fingerprint(in: store))]
    require(signed.signatures(verifiedBy: [key.publicKey], in: store).count == 1, "a fresh signature does not verify")
}

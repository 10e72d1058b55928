import StorePaths
import SystemSupport

/// The output paths a store derivation (`.drv`) names, read from its first bytes.
///
/// Nix 2.8.0 runs post-build-hook with OUT_PATHS empty (NixOS/nix#6446, fixed in 2.8.1); only
/// DRV_PATH is right. The outputs are the first list of the derivation's ATerm text,
/// `Derive([("out","/nix/store/<hash>-name","",""),...],...`, so reading the file's start is
/// enough, and far cheaper than opening the Nix database. Outputs without a path yet (floating
/// content-addressed ones) are skipped.
public enum DerivationOutputs {
    /// Enough for the outputs list of any derivation; the rest of the file is not read.
    static let readLimit = 64 * 1024

    /// - Parameter file: where the `.drv` is on disk (in a chroot store, under its root).
    /// - Throws: `SystemError` if the file cannot be read, `DerivationOutputsError` if it does
    ///   not start like a derivation.
    public static func read(_ file: String, storeDirectory: StoreDirectory) throws -> [StorePath] {
        let bytes = try Spool.readFile(file, limit: readLimit)
        return try parse(bytes.prefix(readLimit), storeDirectory: storeDirectory, file: file)
    }

    static func parse(_ bytes: ArraySlice<UInt8>, storeDirectory: StoreDirectory, file: String) throws -> [StorePath] {
        var reader = ATermReader(bytes: bytes, file: file)
        try reader.expect("Derive([")
        var outputs: [StorePath] = []
        guard !reader.skip("]") else { return [] }
        repeat {
            try reader.expect("(")
            _ = try reader.string()                      // output name
            try reader.expect(",")
            let path = try reader.string()
            try reader.expect(",")
            _ = try reader.string()                      // hash algorithm
            try reader.expect(",")
            _ = try reader.string()                      // hash
            try reader.expect(")")
            if !path.isEmpty {
                do {
                    outputs.append(try storeDirectory.parsePath(path))
                } catch {
                    throw DerivationOutputsError(file: file, reason: "\(error)")
                }
            }
        } while reader.skip(",")
        try reader.expect("]")
        return outputs
    }
}

/// Reads the few ATerm shapes the outputs list uses: literals and escaped strings.
private struct ATermReader {
    let bytes: ArraySlice<UInt8>
    let file: String
    var position: Int

    init(bytes: ArraySlice<UInt8>, file: String) {
        self.bytes = bytes
        self.file = file
        position = bytes.startIndex
    }

    mutating func skip(_ literal: String) -> Bool {
        let literalBytes = literal.utf8
        guard bytes[position...].starts(with: literalBytes) else { return false }
        position += literalBytes.count
        return true
    }

    mutating func expect(_ literal: String) throws {
        guard skip(literal) else { throw DerivationOutputsError(file: file, reason: "expected '\(literal)' at byte \(position)") }
    }

    /// A quoted string (Nix escapes `"`, `\`, newline, tab and carriage return).
    mutating func string() throws -> String {
        try expect("\"")
        var value: [UInt8] = []
        while position < bytes.endIndex {
            var byte = bytes[position]
            position += 1
            if byte == UInt8(ascii: "\"") {
                return String(decoding: value, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\"), position < bytes.endIndex {
                byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "n"): byte = UInt8(ascii: "\n")
                case UInt8(ascii: "t"): byte = UInt8(ascii: "\t")
                case UInt8(ascii: "r"): byte = UInt8(ascii: "\r")
                default: break
                }
            }
            value.append(byte)
        }
        throw DerivationOutputsError(file: file, reason: "a string runs past the first \(DerivationOutputs.readLimit) bytes")
    }
}

/// A file that does not start like a store derivation.
public struct DerivationOutputsError: Error, CustomStringConvertible {
    public var file: String
    public var reason: String

    public var description: String { "cannot read the outputs of derivation \(file): \(reason)" }
}

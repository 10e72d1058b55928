import StorePaths

/// What `narsync hook` asks the service to publish: the outputs of one build and the derivation
/// that produced them.
///
/// The same text travels over the hook socket and sits in spool files:
///
///     narsync-hook 1
///     drv /nix/store/<hash>-hello-2.12.drv
///     out /nix/store/<hash>-hello-2.12
///     end
///
/// The first line names the format and its version; `drv` is at most once, `out` any number of
/// times, and there is at least one of them. (A request with only `drv` comes from a Nix that
/// did not say what it built, Nix 2.8.0 among them, and from a derivation narsync hook could not
/// read; the service looks its outputs up in the Nix database.) The closing `end` line makes a truncated request (a crashed writer, a
/// client cut off mid-way) detectable: without it nothing in the request is used.
public struct HookRequest: Hashable, Sendable {
    public var outputs: [StorePath]
    public var derivation: StorePath?

    /// The first line of every request.
    public static let header = "narsync-hook 1"
    /// The largest request read from a socket or a spool file; it also bounds the number of
    /// paths (at most 83,886 in /nix/store).
    public static let maximumSize = 4 << 20

    /// - Parameter outputs: duplicates are kept only once, in first-seen order. (A request
    ///   without paths at all can be serialized but is refused by the parser.)
    public init(outputs: [StorePath], derivation: StorePath? = nil) {
        var seen = Set<StorePath>()
        self.outputs = outputs.filter { seen.insert($0).inserted }
        self.derivation = derivation
    }

    /// The request as text, with full paths in `storeDirectory`.
    public func serialized(storeDirectory: StoreDirectory) -> [UInt8] {
        var text = Self.header + "\n"
        if let derivation { text += "drv \(storeDirectory.fullPath(of: derivation))\n" }
        for output in outputs { text += "out \(storeDirectory.fullPath(of: output))\n" }
        text += "end\n"
        return Array(text.utf8)
    }

    /// Parses a request strictly: any unknown line, any path that is not a valid store path in
    /// `storeDirectory`, a missing `end` or anything after it rejects the whole request, since a
    /// well-behaved `narsync hook` never writes such a thing.
    public init(parsing bytes: [UInt8], storeDirectory: StoreDirectory) throws(HookRequestError) {
        guard bytes.count <= Self.maximumSize else { throw .tooLarge(bytes.count) }
        guard bytes.last == UInt8(ascii: "\n") else { throw .truncated }
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
        guard let first = lines.popFirst(), first.elementsEqual(Self.header.utf8) else {
            throw .notARequest
        }
        guard let last = lines.popLast(), last.elementsEqual("end".utf8) else { throw .truncated }

        var outputs: [StorePath] = []
        var derivation: StorePath?
        for (index, line) in lines.enumerated() {
            let lineNumber = index + 2
            guard let text = String(validating: line, as: UTF8.self) else { throw .malformedLine(lineNumber, "it is not UTF-8") }
            if text.hasPrefix("out ") {
                outputs.append(try Self.path(text.dropFirst(4), storeDirectory, lineNumber))
            } else if text.hasPrefix("drv ") {
                guard derivation == nil else { throw .malformedLine(lineNumber, "a second drv line") }
                let path = try Self.path(text.dropFirst(4), storeDirectory, lineNumber)
                guard path.isDerivation else { throw .malformedLine(lineNumber, "\(path) is not a derivation (.drv)") }
                derivation = path
            } else {
                throw .malformedLine(lineNumber, "expected 'out <path>', 'drv <path>' or 'end'")
            }
        }
        guard !outputs.isEmpty || derivation != nil else { throw .noPaths }
        self.init(outputs: outputs, derivation: derivation)
    }

    private static func path(_ text: Substring, _ storeDirectory: StoreDirectory, _ line: Int) throws(HookRequestError) -> StorePath {
        // Checked first so that an error message never carries megabytes of one line.
        guard text.utf8.count <= storeDirectory.path.utf8.count + 1 + StorePath.hashLength + 1 + StorePath.maximumNameLength else {
            throw .malformedLine(line, "the path is longer than any store path")
        }
        do {
            return try storeDirectory.parsePath(String(text))
        } catch {
            throw .malformedLine(line, "\(error)")
        }
    }
}

/// Why a hook request, from a socket or a spool file, was not accepted.
public enum HookRequestError: Error, CustomStringConvertible, Equatable, Sendable {
    case tooLarge(Int)
    case notARequest
    case truncated
    case malformedLine(Int, String)
    case noPaths

    public var description: String {
        switch self {
        case .tooLarge(let size):
            "the request has \(size) bytes, more than the \(HookRequest.maximumSize) allowed"
        case .notARequest:
            "it does not start with '\(HookRequest.header)'; it was not written by this version of narsync hook"
        case .truncated:
            "the request is truncated: it does not end with an 'end' line"
        case .malformedLine(let line, let reason):
            "line \(line): \(reason)"
        case .noPaths:
            "the request names no paths"
        }
    }
}

/// What Nix records when it builds (or substitutes) an output of a content-addressed
/// derivation (`experimental-features = ca-derivations`): the derivation's output, named by the
/// derivation's hash modulo and the output's name, realised as a store path. A binary cache
/// holds it as `realisations/<id>.doi` so that other machines substitute by derivation.
///
/// Its JSON is Nix's (`Realisation::toJSON`, dumped by nlohmann::json): keys in sorted order,
/// no spaces, signatures a sorted set. A signature signs `fingerprint`, that JSON without
/// `signatures` (`Realisation::fingerprint`).
public struct Realisation: Sendable, Equatable {
    /// `sha256:<hex of the derivation's hash modulo>!<output name>`, Nix's `DrvOutput`.
    public var id: String
    public var outPath: StorePath
    public var signatures: [String]
    /// The realisations of the content-addressed derivations this one's build depended on,
    /// by their ids.
    public var dependentRealisations: [String: StorePath]

    public init(id: String, outPath: StorePath, signatures: [String], dependentRealisations: [String: StorePath] = [:]) {
        self.id = id
        self.outPath = outPath
        self.signatures = signatures
        self.dependentRealisations = dependentRealisations
    }

    /// The object's key in a binary cache.
    public var cacheKey: String { "realisations/\(id).doi" }

    /// What a signature signs.
    public var fingerprint: String { json(includingSignatures: false) }

    /// The `.doi` file's contents, as Nix writes them.
    public var json: String { json(includingSignatures: true) }

    /// Adds the signature of `key` unless it is there already.
    public mutating func sign(with key: SecretKey) {
        let signature = key.sign(fingerprint)
        if !signatures.contains(signature) { signatures.append(signature) }
    }

    private func json(includingSignatures: Bool) -> String {
        let dependents = dependentRealisations.keys.sorted()
            .map { "\(Self.quoted($0)):\(Self.quoted(dependentRealisations[$0]!.baseName))" }
        var members = [
            "\"dependentRealisations\":{\(dependents.joined(separator: ","))}",
            "\"id\":\(Self.quoted(id))",
            "\"outPath\":\(Self.quoted(outPath.baseName))",
        ]
        if includingSignatures {
            members.append("\"signatures\":[\(Set(signatures).sorted().map(Self.quoted).joined(separator: ","))]")
        }
        return "{\(members.joined(separator: ","))}"
    }

    /// A JSON string as nlohmann::json dumps it (only `"`, `\` and control characters escaped).
    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

import Foundation

/// Reads the few fields narsync needs from S3's XML answers. S3 writes flat, well-formed XML
/// without attributes on these elements, so finding `<Name>...</Name>` is enough; a full XML
/// parser would be a dependency for nothing.
enum S3XML {
    /// The text inside every `<name>...</name>` of `xml`, entities decoded, in document order.
    static func values(_ name: String, in xml: Substring) -> [String] {
        elements(name, in: xml).map { decodeEntities($0) }
    }

    static func value(_ name: String, in xml: Substring) -> String? {
        values(name, in: xml).first
    }

    /// The raw inside of every `<name>...</name>`, for elements that hold others (`<Part>`).
    static func elements(_ name: String, in xml: Substring) -> [Substring] {
        var found: [Substring] = []
        var rest = xml
        while let open = rest.range(of: "<\(name)>") {
            guard let close = rest[open.upperBound...].range(of: "</\(name)>") else { break }
            found.append(rest[open.upperBound..<close.lowerBound])
            rest = rest[close.upperBound...]
        }
        return found
    }

    static func decodeEntities(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var out = ""
        var rest = text
        while let ampersand = rest.firstIndex(of: "&") {
            out += rest[..<ampersand]
            guard let semicolon = rest[ampersand...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: ampersand)..<semicolon]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let number = entity.hasPrefix("#x")
                    ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let number, let scalar = Unicode.Scalar(number) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += "&\(entity);"
                }
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        return out + rest
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}

/// S3's error body: `<Error><Code>NoSuchBucket</Code><Message>...</Message></Error>`.
struct S3ErrorBody: Equatable {
    var code: String
    var message: String?

    init?(_ body: [UInt8]) {
        // Error bodies are small XML; objects (a NAR being read) are neither, and decoding
        // megabytes of them as text would be waste.
        guard body.count <= 64 * 1024, let first = body.first(where: { $0 > 0x20 }), first == UInt8(ascii: "<") else {
            return nil
        }
        let text = Substring(String(decoding: body, as: UTF8.self))
        guard let error = S3XML.elements("Error", in: text).first, let code = S3XML.value("Code", in: error) else { return nil }
        self.code = code
        message = S3XML.value("Message", in: error)
    }
}

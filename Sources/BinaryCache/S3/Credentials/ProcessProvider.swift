import Foundation

/// A profile's `credential_process`: a command run directly, without a shell (its words split
/// as a shell would, quotes honoured), whose standard output is a JSON document of Version 1
/// with `AccessKeyId`, `SecretAccessKey`, optionally `SessionToken` and `Expiration`. Its
/// standard error goes to narsync's, as with the AWS tools.
struct ProcessProvider: CredentialProvider {
    let command: String
    let environment: [String: String]
    let name: String

    /// At most this much output is read: a credentials document is a few hundred bytes.
    static let outputLimit = 1 << 20

    func fetch() throws -> S3Credentials {
        let arguments = try Self.split(command)
        guard let program = arguments.first else { throw CredentialSourceError.failed("\(name) is empty") }
        let executable = try Self.locate(program, path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw CredentialSourceError.failed("\(name): cannot run \(executable): \(error.localizedDescription)")
        }
        let bytes = Self.read(output.fileHandleForReading)
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw CredentialSourceError.failed("\(name): \(program) exited with status \(process.terminationStatus)")
        }
        let document = try CredentialDocument.parse(bytes, origin: "\(name) (\(program))")
        guard document.version == 1 else {
            throw CredentialSourceError.failed("\(name): \(program) printed a document of Version \(document.version.map(String.init) ?? "none"), not 1")
        }
        return try document.credentials(source: name, origin: "\(name) (\(program))")
    }

    private static func read(_ handle: FileHandle) -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < outputLimit, let chunk = try? handle.read(upToCount: 64 * 1024), !chunk.isEmpty {
            bytes += chunk
        }
        return bytes
    }

    /// The program's path: as given if it has a slash, else the first match on `PATH`.
    private static func locate(_ program: String, path: String) throws -> String {
        if program.contains("/") { return program }
        for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/\(program)") {
            return "\(directory)/\(program)"
        }
        throw CredentialSourceError.failed("credential_process: \(program) is not on PATH")
    }

    /// Splits a command into words as a POSIX shell would, without expanding anything:
    /// whitespace separates, single quotes keep everything, double quotes keep all but `\"`
    /// and `\\`, a backslash outside quotes escapes the next character.
    static func split(_ command: String) throws -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in command {
            if escaped {
                if quote == "\"" && character != "\"" && character != "\\" { word.append("\\") }
                word.append(character)
                escaped = false
            } else if character == "\\" && quote != "'" {
                escaped = true
                inWord = true
            } else if let open = quote {
                if character == open { quote = nil } else { word.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character.isWhitespace {
                if inWord { words.append(word) }
                word = ""
                inWord = false
            } else {
                word.append(character)
                inWord = true
            }
        }
        guard quote == nil, !escaped else { throw CredentialSourceError.failed("credential_process has an unclosed quote: \(command)") }
        if inWord { words.append(word) }
        return words
    }
}

import Foundation

/// What a finished child process left behind.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var standardError: String
    public var outputBytes: [UInt8]

    /// The output as text. Decoded on demand: repairing megabytes of binary output (a NAR from
    /// `nix-store --dump`) into UTF-8 takes seconds.
    public var standardOutput: String { String(decoding: outputBytes, as: UTF8.self) }

    /// The output with its trailing newline removed.
    public var trimmedOutput: String { standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) }
}

/// Runs programs for the tests: real Nix, the built `narsync`, moto.
public enum Subprocess {
    /// Runs `executable` with `arguments` and waits for it. Standard output and error are
    /// collected concurrently so a chatty child cannot block on a full pipe.
    @discardableResult
    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        input: [UInt8]? = nil,
        workingDirectory: String? = nil
    ) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : try which(executable))
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        if let input {
            let handle = stdin.fileHandleForWriting
            DispatchQueue.global().async {
                try? handle.write(contentsOf: input)
                try? handle.close()
            }
        }
        let collected = CollectedOutput()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            collected.error = stderr.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return ProcessResult(
            status: process.terminationStatus,
            standardError: String(decoding: collected.error, as: UTF8.self),
            outputBytes: Array(output)
        )
    }

    /// Like `run`, but throws with the command line and its standard error unless it exits 0.
    @discardableResult
    public static func checked(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        input: [UInt8]? = nil
    ) throws -> ProcessResult {
        let result = try run(executable, arguments, environment: environment, input: input)
        guard result.status == 0 else {
            throw TestFailure("\(executable) \(arguments.joined(separator: " ")) exited \(result.status):\n\(result.standardError)")
        }
        return result
    }

    /// The full path of a program on PATH.
    public static func which(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw TestFailure("\(name) is not on PATH (\(path))")
    }
}

private final class CollectedOutput: @unchecked Sendable {
    var error = Data()
}

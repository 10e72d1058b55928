import Foundation

/// A long-running child process (`narsync watch`, moto) with its output in a file, stopped
/// with a signal by the test.
public final class BackgroundProcess: @unchecked Sendable {
    public let process = Process()
    public let logFile: String

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, logFile: String) throws {
        self.logFile = logFile
        FileManager.default.createFile(atPath: logFile, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

    /// Everything the process has written so far.
    public var output: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits for the process to end; returns its exit status.
    @discardableResult
    public func stop(_ signal: Int32 = SIGTERM) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` (scaled by `TestTiming`) passes;
/// returns whether it held.
public func eventually(timeout: Duration = .seconds(20), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout.scaled
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

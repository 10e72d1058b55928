import ArgumentParser
import Foundation

/// Exit codes narsync uses beyond 0 (success).
enum ExitStatus {
    /// Some paths could not be published; the others were.
    static let partialFailure = ExitCode(1)
    /// Bad input: nothing was done.
    static let badInput = ExitCode(2)
}

/// Prints `narsync: error: <message>` on one line to standard error.
func printError(_ message: String) {
    let line = "narsync: error: \(message.replacingOccurrences(of: "\n", with: " "))\n"
    FileHandle.standardError.write(Data(line.utf8))
}

/// Runs `body`, turning any error into a one-line message and exit status 2: for the checks of
/// user input that come before any work.
func validatingInput<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        printError("\(error)")
        throw ExitStatus.badInput
    }
}

/// `validatingInput` for checks that run on another thread (the Nix database, key files).
func validatingInput<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        printError("\(error)")
        throw ExitStatus.badInput
    }
}

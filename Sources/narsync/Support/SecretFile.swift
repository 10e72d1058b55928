import Foundation

/// A file that holds a secret besides the signing keys: an AWS credentials file, a bearer
/// token, a netrc. Like a signing key, one that group or others may read is refused, by the
/// commands that use it and by `config check` alike: its secret is no longer private.
enum SecretFile {
    /// Why the file at `path` cannot serve: missing, unreadable, or open to group or others.
    static func problem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "\(path): \(String(cString: strerror(errno)))" }
        guard access(path, R_OK) == 0 else { return "\(path) is not readable by narsync (uid \(getuid()))" }
        guard info.st_mode & 0o077 == 0 else {
            return "\(path) holds a secret but group or others may read it (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it"
        }
        return nil
    }

    /// Throws `problem(path)`, if there is one.
    static func check(_ path: String) throws {
        if let problem = problem(path) { throw SecretFileError(description: problem) }
    }
}

/// A secret file narsync refuses; the message names it and what to do.
struct SecretFileError: Error, CustomStringConvertible {
    var description: String
}

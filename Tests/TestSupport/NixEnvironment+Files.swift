import Foundation

extension NixEnvironment {
    /// Adds a small file named `name` whose contents are new each call, so each call makes a
    /// new store path; returns it.
    public func addUniqueFile(named name: String) throws -> String {
        let file = directory.appending(name)
        try "\(name) \(UUID())".write(toFile: file, atomically: true, encoding: .utf8)
        return try add(file)
    }

    /// Adds a file of random bytes, a store path whose compressed NAR is as large as the file.
    public func addRandomFile(mebibytes: Int) throws -> String {
        let file = directory.appending("random-\(mebibytes)-\(UUID().uuidString.prefix(8))")
        try Subprocess.checked("/bin/sh", ["-c", "head -c \(mebibytes << 20) /dev/urandom > '\(file)'"])
        return try add(file)
    }
}

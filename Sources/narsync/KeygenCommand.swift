import ArgumentParser
import Foundation
import NixStore
import SystemSupport

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Generate a key pair for signing the store paths narsync publishes.",
        discussion: """
            Writes SECRET-FILE (mode 0600) and PUBLIC-FILE in the format of \
            `nix-store --generate-binary-cache-key`, so either tool's keys work with the other.

            Give narsync the secret key file to sign what it uploads. Clients trust the cache \
            by adding the contents of PUBLIC-FILE to `trusted-public-keys` in their nix.conf, \
            next to the cache's URL in `substituters`.

            NAME names the key inside every signature; by convention it is the cache's host \
            name and a number, so that a key can later be replaced by the next one:

              narsync keygen cache.example.org-1 /etc/narsync/key /etc/narsync/key.pub

            Existing files are never overwritten unless --force is given: a lost secret key \
            means every client must be told to trust a new one.
            """
    )

    @Argument(help: "The key's name, e.g. cache.example.org-1.")
    var name: String

    @Argument(help: ArgumentHelp("Where to write the secret key (created with mode 0600).", valueName: "secret-file"))
    var secretFile: String

    @Argument(help: ArgumentHelp("Where to write the public key.", valueName: "public-file"))
    var publicFile: String

    @Flag(help: "Replace existing key files.")
    var force = false

    func run() throws {
        let secretKey = try SecretKey.generate(name: name)
        if !force {
            for path in [secretFile, publicFile] where FileManager.default.fileExists(atPath: path) {
                throw KeygenError.exists(path)
            }
        }
        try write(secretKey.serialized, to: secretFile, mode: 0o600)
        do {
            try write(secretKey.publicKey.serialized, to: publicFile, mode: 0o644)
        } catch {
            // Half a key pair is worse than none: nothing is left behind unless it replaced a file.
            if !force { unlink(secretFile) }
            throw error
        }
        print("Wrote secret key \(secretFile) and public key \(publicFile).")
        print("Clients trust this cache with: trusted-public-keys = \(secretKey.publicKey.serialized)")
    }

    /// Writes a key file whole or not at all; without --force, never over an existing file.
    private func write(_ contents: String, to path: String, mode: mode_t) throws {
        do {
            try writeFileAtomically(Array(contents.utf8), to: path, mode: mode, replace: force)
        } catch let error as SystemError {
            throw error.errno == EEXIST ? KeygenError.exists(path) : KeygenError.cannotWrite(path, error.errno)
        }
    }
}

enum KeygenError: Error, CustomStringConvertible {
    case exists(String)
    case cannotWrite(String, Int32)

    var description: String {
        switch self {
        case .exists(let path):
            "'\(path)' already exists; narsync keygen does not overwrite key files unless given --force"
        case .cannotWrite(let path, let errno):
            "cannot write '\(path)': \(String(cString: strerror(errno)))"
        }
    }
}

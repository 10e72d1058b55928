import Foundation

extension NixEnvironment {
    /// Builds every attribute of an attribute-set expression; returns output paths by attribute.
    public func buildAttributes(_ expression: String, storeRoot: String? = nil) throws -> [String: String] {
        let file = directory.appending("attrs-\(UUID().uuidString).nix")
        try expression.write(toFile: file, atomically: true, encoding: .utf8)
        let names = try run("nix-instantiate", ["--eval", "--json", "-E", "builtins.attrNames (import \(file))"]).trimmedOutput
        let attributes = try JSONDecoder().decode([String].self, from: Data(names.utf8))
        var outputs: [String: String] = [:]
        for attribute in attributes {
            outputs[attribute] = try run("nix-build", [
                "--store", storeRoot ?? self.storeRoot, "--option", "sandbox-paths", "/bin /usr /lib /lib64",
                "--no-out-link", file, "-A", attribute,
            ]).trimmedOutput
        }
        return outputs
    }

    /// A signing key pair made by Nix itself: the secret key file (mode 0600) and the public key.
    public func generateKey(name: String) throws -> (secretKeyFile: String, publicKey: String) {
        let secret = directory.appending("\(name)-\(UUID().uuidString).sec")
        let publicFile = secret + ".pub"
        try run("nix-store", ["--generate-binary-cache-key", name, secret, publicFile])
        return (secret, try String(contentsOfFile: publicFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Copies `paths` from the binary cache at `cacheURL` into the store at `storeRoot` the way
    /// a user's Nix substitutes: signatures required, `trustedKey` the only trusted key.
    public func substitute(_ paths: [String], from cacheURL: String, into storeRoot: String, trustedKey: String) throws -> ProcessResult {
        try attempt("nix", [
            "copy", "--from", cacheURL, "--to", storeRoot,
            "--option", "require-sigs", "true", "--option", "trusted-public-keys", trustedKey,
        ] + paths)
    }

    /// `nix-store --verify --check-contents` on the store at `storeRoot`.
    public func verifyContents(storeRoot: String) throws -> ProcessResult {
        try attempt("nix-store", ["--store", storeRoot, "--verify", "--check-contents"])
    }
}

/// The name of a store path's narinfo in a binary cache: `<hash part>.narinfo`, for a full
/// path such as `/nix/store/<hash>-name`.
public func narInfoName(of storePath: String) -> String {
    "\((storePath as NSString).lastPathComponent.prefix(32)).narinfo"
}

import Foundation

/// A closure of six derivation outputs with references between them, built by the real Nix:
/// nested directories, executables, relative, absolute and dangling symlinks, a self-reference,
/// and a several-hundred-KiB file, so compression and streaming have work to do.
///
///     top ─┬─> middle-a ─┬─> leaf-tools
///          │             └─> leaf-data
///          ├─> middle-b ───> leaf-data
///          └─> lonely (no references)
public struct TestClosure {
    /// Output path of each derivation, by name.
    public let outputs: [String: String]
    public var top: String { outputs["top"]! }

    /// Builds the closure in `environment`'s store (or `storeRoot`). `salt` changes every hash,
    /// so two tests never share paths.
    public static func build(in environment: NixEnvironment, salt: String = UUID().uuidString, storeRoot: String? = nil) throws -> TestClosure {
        let expression = """
            let
              mk = name: script: derivation {
                inherit name; system = builtins.currentSystem; builder = "/bin/sh";
                PATH = "/bin:/usr/bin"; salt = "\(salt)"; args = [ "-c" script ];
              };
              leafTools = mk "leaf-tools" ''
                mkdir -p $out/bin $out/share/doc/deep/er/still
                printf '#!/bin/sh\\necho tool\\n' > $out/bin/tool; chmod +x $out/bin/tool
                echo readme > $out/share/doc/README; : > $out/share/doc/empty
                ln -s ../share/doc/README $out/bin/readme-link
                ln -s /nowhere/at/all $out/bin/dangling
                head -c 300000 /dev/urandom | base64 > $out/share/doc/deep/er/still/big.txt
              '';
              leafData = mk "leaf-data" ''mkdir $out; seq 1 20000 > $out/numbers; mkdir $out/emptydir'';
              middleA = mk "middle-a" ''mkdir $out; ln -s ${leafTools}/bin/tool $out/tool; echo ${leafData} > $out/data-ref'';
              middleB = mk "middle-b" ''mkdir -p $out/etc; echo ${leafData}/numbers > $out/etc/where'';
              lonely = mk "lonely" ''echo alone > $out'';
              top = mk "top" ''mkdir $out; echo ${middleA} ${middleB} ${lonely} > $out/refs; echo $out > $out/self'';
            in { inherit leafTools leafData middleA middleB lonely top; }
            """
        let built = try environment.buildAttributes(expression, storeRoot: storeRoot)
        return TestClosure(outputs: [
            "leaf-tools": built["leafTools"]!, "leaf-data": built["leafData"]!, "middle-a": built["middleA"]!,
            "middle-b": built["middleB"]!, "lonely": built["lonely"]!, "top": built["top"]!,
        ])
    }
}

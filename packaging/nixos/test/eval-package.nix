# Evaluates packaging/nix/package.nix against nixpkgs' lib without nixpkgs' package set, as far
# as that goes: its inputs are stand-ins (derivation-like sets), and stdenv.mkDerivation returns
# the attributes it is given instead of making a derivation. So everything package.nix computes
# itself is evaluated (inputs, source filter, flags, phases, meta); nixpkgs' Swift toolchain,
# stdenv, the swiftpm2nix pins and the build are not.
#
#   nix-instantiate --eval --strict --json eval-package.nix --argstr nixpkgsLib DIR/lib
{ nixpkgsLib }:

let
  lib = import (/. + nixpkgsLib);
  input = name: { type = "derivation"; inherit name; outPath = "/nix/store/${lib.fixedWidthString 32 "0" ""}-${name}"; };

  package = import ../../nix/package.nix {
    inherit lib;
    stdenv.mkDerivation = attributes: attributes;
    swift = input "swift";
    swiftpm = input "swiftpm";
    swiftpm2nix.helpers = generated: { configure = "# swiftpm2nix's configure for ${toString generated}"; };
    pkg-config = input "pkg-config";
    # As in nixpkgs, curl's headers and library are outputs of their own.
    curl = input "curl" // { dev = input "curl-dev"; lib = input "curl-lib"; };
    libsodium = input "libsodium";
    sqlite = input "sqlite";
    zstd = input "zstd";
    openssl = input "openssl";
  };
  root = toString ../..;
in
{
  inherit (package) pname version swiftpmFlags postBuild installPhase configurePhase;
  nativeBuildInputs = map (input: input.name) package.nativeBuildInputs;
  buildInputs = map (input: input.name) package.buildInputs;
  meta = { inherit (package.meta) description mainProgram; platforms = package.meta.platforms; };
  # What the source filter lets into the store (forcing src itself would copy the repository).
  sourceFilter = lib.mapAttrs (path: type: package.src.filter "${root}/${path}" type) {
    ".build" = "directory";
    ".build-release" = "directory";
    "Sources" = "directory";
    "Package.swift" = "regular";
  };
}

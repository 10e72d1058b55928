# narsync built with Nix's Swift toolchain:  nix-build -E 'with import <nixpkgs> {}; callPackage ./packaging/nix/package.nix {}'
#
# Nix builds offline, so SwiftPM cannot fetch narsync's dependencies: they are pinned in
# ./generated (workspace-state.json and default.nix), written by nixpkgs' swiftpm2nix from
# Package.resolved:  swift package resolve && swiftpm2nix  (run in the repository root, then
# move nix/ to packaging/nix/generated). Needs a nixpkgs whose swift is 6.0 or later, and
# whose swiftpm2nix helpers accept the workspace-state.json version that Swift writes (7 for
# Swift 6; some nixpkgs releases assert 5 or 6). The tests evaluate this file against nixpkgs'
# lib with stand-ins for the package set (packaging/nixos/test/eval-package.nix) and run its
# installPhase on the built programs; the build itself, with nixpkgs' Swift, is not tested here.
{ lib
, stdenv
, swift
, swiftpm
, swiftpm2nix
, Foundation ? null
, pkg-config
, curl
, libsodium
, sqlite
, zstd
, openssl
}:

let
  generated = swiftpm2nix.helpers ./generated;
in
stdenv.mkDerivation {
  pname = "narsync";
  version = "0.1.0";

  src = lib.cleanSourceWith {
    src = ../..;
    # Build output and editor litter never reach the store.
    filter = path: type: !(lib.hasPrefix ".build" (baseNameOf path));
  };

  nativeBuildInputs = [ swift swiftpm pkg-config ];
  buildInputs = [ curl libsodium sqlite zstd openssl ] ++ lib.optional (Foundation != null) Foundation;

  # Hand SwiftPM the pinned dependency checkouts instead of the network.
  configurePhase = generated.configure;

  # narsync loads libcurl when a destination needs it (Sources/CCurlLoader) instead of linking
  # it, so neither pkg-config nor the linker's rpath lead to it: name its headers and the library.
  swiftpmFlags = [ "-Xcc" "-I${lib.getDev curl}/include" "-Xcc" "-DCCURL_LIBRARY=\"${lib.getLib curl}/lib/libcurl.so.4\"" ];

  # swift-argument-parser's generate-manual tool (from the pinned checkout) writes the manual
  # pages from the built narsync in installPhase.
  postBuild = ''
    swift build -c release --product generate-manual
  '';

  installPhase = ''
    runHook preInstall
    binPath="$(swiftpmBinPath)"
    install -Dm755 "$binPath/narsync" "$out/bin/narsync"
    install -Dm755 "$binPath/narsync-hook" "$out/bin/narsync-hook"
    # A manual page per command and bash, zsh and fish completions, made by the program itself.
    bash packaging/install-manuals --narsync "$out/bin/narsync" --generate-manual "$binPath/generate-manual" --prefix "$out"
    install -Dm644 packaging/systemd/narsync.service "$out/lib/systemd/system/narsync.service"
    substituteInPlace "$out/lib/systemd/system/narsync.service" --replace-fail /usr/bin/narsync "$out/bin/narsync"
    install -Dm644 packaging/examples/config.toml "$out/share/doc/narsync/examples/config.toml"
    runHook postInstall
  '';

  meta = {
    description = "Replicate a Nix store into a Nix binary cache as store paths appear";
    platforms = lib.platforms.linux;
    mainProgram = "narsync";
  };
}

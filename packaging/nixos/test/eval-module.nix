# Evaluates packaging/nixos/module.nix with nixpkgs' lib.evalModules as NixOS would, and returns
# what a NixOS system would be made of: the failed assertions (where NixOS stops), or the
# service's unit as NixOS writes it, the generated config.toml and the other options it set.
#
#   nix-instantiate --eval --strict --json --read-write-mode eval-module.nix \
#     --argstr nixpkgsLib DIR/lib --argstr configuration FILE.nix \
#     --argstr narsync PACKAGE-DIR --argstr coreutils PACKAGE-DIR
#
# `configuration` is a NixOS module setting services.narsync; `narsync` and `coreutils` are
# directories standing for the packages (with bin/narsync, bin/narsync-hook and bin/kill), so
# the unit's commands exist. --read-write-mode lets builtins.toFile write config.toml into the
# (private) store, where it is read back.
{ nixpkgsLib, configuration, narsync, coreutils }:

let
  lib = import (/. + nixpkgsLib);

  # A package as the module sees one: a derivation whose output is an existing directory.
  package = name: outPath: { type = "derivation"; inherit name outPath; outputName = "out"; outputs = [ "out" ]; };

  # pkgs, reduced to what the module takes from it. nixpkgs' package set is not here: callPackage
  # knows only narsync's package.nix, and formats.toml has nixpkgs' type
  # (pkgs/pkgs-lib/formats.nix) but writes its file with toTOML below instead of remarshal.
  pkgs = {
    coreutils = package "coreutils" coreutils;
    callPackage = file: _: if file == ../../nix/package.nix then package "narsync" narsync
      else throw "eval-module.nix: no package ${toString file} here";
    formats.toml = { }: {
      type = let valueType = types.nullOr (types.oneOf [
        types.bool types.int types.float types.str types.path (types.attrsOf valueType) (types.listOf valueType)
      ]) // { description = "TOML value"; }; in valueType;
      generate = name: value: builtins.toFile name (toTOML value);
    };
  };
  inherit (lib) types;

  # TOML text of an attribute set: plain keys first, then tables, then arrays of tables, as
  # remarshal orders them. Strings are written as JSON strings, whose escapes TOML shares.
  toTOML = let
    isTableArray = value: lib.isList value && value != [ ] && lib.all lib.isAttrs value;
    key = name: if builtins.match "[A-Za-z0-9_-]+" name != null then name else builtins.toJSON name;
    scalar = value:
      if lib.isList value then "[" + lib.concatMapStringsSep ", " scalar value + "]"
      else if builtins.isPath value then builtins.toJSON (toString value)
      else if value == null then throw "toTOML: TOML has no null"
      else builtins.toJSON value;
    table = prefix: attrs: let
      name = child: (if prefix == "" then "" else "${prefix}.") + key child;
      plain = lib.filterAttrs (_: value: !(lib.isAttrs value) && !(isTableArray value)) attrs;
      tables = lib.filterAttrs (_: lib.isAttrs) attrs;
      arrays = lib.filterAttrs (_: isTableArray) attrs;
    in lib.concatStrings (lib.mapAttrsToList (child: value: "${key child} = ${scalar value}\n") plain)
      + lib.concatStrings (lib.mapAttrsToList (child: value: "\n[${name child}]\n" + table (name child) value) tables)
      + lib.concatStrings (lib.mapAttrsToList (child: lib.concatMapStrings (value: "\n[[${name child}]]\n" + table (name child) value)) arrays);
  in table "";

  system = lib.evalModules {
    modules = [
      ./nixos-options.nix
      ../module.nix
      (/. + configuration)
      { _module.args.pkgs = pkgs; }
    ];
  };
  inherit (system) config;

  # A unit file as NixOS writes one (nixos/lib/systemd-lib.nix, attrsToSection): a list gives a
  # line per element, booleans are written true/false.
  unitValue = value: if value == true then "true" else if value == false then "false" else toString value;
  section = attrs: lib.concatStrings (lib.concatLists (lib.mapAttrsToList
    (name: value: map (element: "${name}=${unitValue element}\n") (lib.toList value)) attrs));
  unitFile = service: ''
    [Unit]
    ${section ({ Description = service.description; }
      // lib.optionalAttrs (service.after != [ ]) { After = lib.concatStringsSep " " service.after; }
      // lib.optionalAttrs (service.wants != [ ]) { Wants = lib.concatStringsSep " " service.wants; }
      // service.unitConfig)}
    [Service]
    ${section (service.serviceConfig
      // lib.optionalAttrs (service.environment != { }) {
        Environment = lib.mapAttrsToList (name: value: "\"${name}=${toString value}\"") service.environment;
      })}
    [Install]
    WantedBy=${lib.concatStringsSep " " service.wantedBy}
  '';

  failedAssertions = map (assertion: assertion.message) (lib.filter (assertion: !assertion.assertion) config.assertions);
  service = config.systemd.services.narsync or null;
in
if failedAssertions != [ ] then { inherit failedAssertions; } else {
  inherit failedAssertions;
  inherit (config) warnings;
  unit = if service == null then null else unitFile service;
  configToml = if config.environment.etc ? "narsync/config.toml"
    then builtins.readFile config.environment.etc."narsync/config.toml".source else null;
  postBuildHook = config.nix.settings.post-build-hook or null;
  systemPackages = map (package: package.outPath) config.environment.systemPackages;
  groups = lib.attrNames config.users.groups;
}

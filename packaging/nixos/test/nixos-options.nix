# The NixOS options packaging/nixos/module.nix sets, declared with the types NixOS gives them,
# for evaluating the module with nixpkgs' lib/ alone (NixOS's own modules are not in it).
# Only the sub-options the module uses are declared; an option it set that NixOS does not have,
# or a value of the wrong type, fails the evaluation as it would on NixOS.
#   systemd.services        nixos/lib/systemd-unit-options.nix, nixos/modules/system/boot/systemd.nix
#   users.users/groups      nixos/modules/config/users-groups.nix
#   nix.settings            nixos/modules/config/nix.nix
#   environment.etc         nixos/modules/system/etc/etc.nix
#   environment.systemPackages  nixos/modules/config/system-path.nix
#   assertions, warnings    nixos/modules/misc/assertions.nix
{ lib, ... }:

let
  inherit (lib) mkOption types;

  # A unit setting: lists given in several definitions are concatenated, single values must agree.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge = loc: defs:
      let defs' = lib.filterOverrides defs;
      in if lib.any (def: lib.isList def.value) defs'
      then lib.concatMap (def: lib.toList def.value) defs'
      else lib.mergeEqualOption loc defs';
  };
  unitNames = mkOption { type = types.listOf types.str; default = [ ]; };

  service = types.submodule {
    options = {
      enable = mkOption { type = types.bool; default = true; };
      description = mkOption { type = types.singleLineStr; default = ""; };
      after = unitNames;
      before = unitNames;
      wants = unitNames;
      requires = unitNames;
      wantedBy = unitNames;
      restartTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      environment = mkOption { type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ])); default = { }; };
      path = mkOption { type = types.listOf (types.oneOf [ types.package types.str ]); default = [ ]; };
      unitConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
      serviceConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
    };
  };

  # systemd.timers: nixos/lib/systemd-unit-options.nix's timerOptions (the parts the module sets).
  timer = types.submodule {
    options = {
      description = mkOption { type = types.str; default = ""; };
      wantedBy = mkOption { type = types.listOf types.str; default = [ ]; };
      timerConfig = mkOption { type = types.attrsOf unitOption; default = { }; };
    };
  };

  user = types.submodule {
    options = {
      isSystemUser = mkOption { type = types.bool; default = false; };
      group = mkOption { type = types.str; default = ""; };
      description = mkOption { type = types.str; default = ""; };
      home = mkOption { type = types.path; default = "/var/empty"; };
      extraGroups = mkOption { type = types.listOf types.str; default = [ ]; };
    };
  };

  group = types.submodule {
    options = {
      gid = mkOption { type = types.nullOr types.int; default = null; };
      members = mkOption { type = types.listOf types.str; default = [ ]; };
    };
  };

  # nix.conf values: atoms or lists of them; any setting name (freeform).
  nixConfAtom = types.nullOr (types.oneOf [ types.bool types.int types.float types.str types.path types.package ]);

  etcFile = types.submodule ({ name, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; };
      target = mkOption { type = types.str; default = name; };
      text = mkOption { type = types.nullOr types.lines; default = null; };
      source = mkOption { type = types.path; };
      mode = mkOption { type = types.str; default = "symlink"; };
    };
  });
in
{
  options = {
    systemd.services = mkOption { type = types.attrsOf service; default = { }; };
    systemd.timers = mkOption { type = types.attrsOf timer; default = { }; };
    users.users = mkOption { type = types.attrsOf user; default = { }; };
    users.groups = mkOption { type = types.attrsOf group; default = { }; };
    nix.settings = mkOption {
      type = types.submodule { freeformType = types.attrsOf (types.either nixConfAtom (types.listOf nixConfAtom)); };
      default = { };
    };
    environment.etc = mkOption { type = types.attrsOf etcFile; default = { }; };
    environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };
    assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    warnings = mkOption { type = types.listOf types.str; default = [ ]; };
  };
}

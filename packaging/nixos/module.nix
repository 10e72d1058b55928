# NixOS module: services.narsync runs `narsync watch` next to nix-daemon.
#
#   imports = [ ./packaging/nixos/module.nix ];
#   services.narsync = {
#     enable = true;
#     keyFile = "/etc/narsync/signing-key.sec";
#     destinations = [{ url = "s3://cache?region=eu-west-1"; credentialsFile = "/etc/narsync/s3-credentials"; }];
#     setPostBuildHook = true;
#   };
#
# Secrets never enter the Nix store: key and credentials files are given as strings (a Nix
# path literal would copy the secret into the store, so one is refused with an assertion),
# handed to the service as systemd credentials, and the generated config.toml names them under
# /run/credentials.
#
# The service runs without root: a dynamic user (DynamicUser=yes) that owns /var/lib/narsync
# (StateDirectory) and /run/narsync (RuntimeDirectory, where the hook socket is) and reads
# /nix, which stays read-only. The hook socket belongs to hookSocketGroup: its members (and
# root, which runs Nix's post-build-hook) may hand paths over; the service checks each client
# with SO_PEERCRED.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.narsync;
  inherit (lib) mkOption mkEnableOption mkIf types optional optionalAttrs;

  credentialsDirectory = "/run/credentials/narsync.service";

  # A file holding a secret, named by a string. A path literal is accepted by the type only so
  # that the assertions below can refuse it saying why (a bare type error would not).
  secretFile = types.nullOr (types.either types.str (lib.mkOptionType {
    name = "pathLiteral";
    description = "path literal (refused: it would copy the secret into the Nix store)";
    check = builtins.isPath;
    merge = lib.mergeEqualOption;
  }));

  destinationModule = types.submodule {
    options = {
      url = mkOption {
        type = types.str;
        example = "s3://my-cache?region=eu-west-1";
        description = "The binary cache: file:///dir, s3://bucket?..., or http(s)://host/path.";
      };
      keyFile = mkOption {
        type = secretFile;
        default = null;
        description = "Secret signing key for this destination; defaults to services.narsync.keyFile.";
      };
      credentialsFile = mkOption {
        type = secretFile;
        default = null;
        description = "S3: an AWS shared credentials file. HTTP: use bearerTokenFile or netrcFile.";
      };
      awsConfigFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "S3: an AWS config file (profiles with role_arn, credential_process, SSO, region).";
      };
      awsProfile = mkOption { type = types.nullOr types.str; default = null; description = "S3: the AWS profile to use (a URL's profile= wins)."; };
      bearerTokenFile = mkOption { type = secretFile; default = null; description = "HTTP(S): file holding a bearer token."; };
      netrcFile = mkOption { type = secretFile; default = null; description = "HTTP(S): netrc file with the cache's login."; };
      caFile = mkOption { type = types.nullOr types.str; default = null; example = "/etc/ssl/private-ca.pem"; description = "HTTPS: PEM file of the CAs to trust instead of the system store (a private CA)."; };
      jobs = mkOption { type = types.nullOr types.ints.positive; default = null; description = "Uploads in flight; defaults to services.narsync.jobs."; };
      compressionLevel = mkOption { type = types.ints.between 1 19; default = 3; description = "zstd level."; };
      priority = mkOption { type = types.int; default = 40; description = "Priority of a new cache's nix-cache-info."; };
      include = mkOption { type = types.listOf types.str; default = cfg.filters.include; defaultText = "services.narsync.filters.include"; description = "Globs of path names to publish."; };
      exclude = mkOption { type = types.listOf types.str; default = cfg.filters.exclude; defaultText = "services.narsync.filters.exclude"; description = "Globs of path names not to publish."; };
      skipSignedBy = mkOption { type = types.listOf types.str; default = cfg.filters.skipSignedBy; defaultText = "services.narsync.filters.skipSignedBy"; description = "Key names whose signed paths are not published."; };
      keepDerivations = mkOption { type = types.bool; default = false; description = "Publish .drv files too."; };
    };
  };

  nonNull = lib.filterAttrs (_: value: value != null);

  # Each secret file becomes a credential named after its destination and role. toString
  # keeps a path literal a name (interpolating it would copy the file into the store); the
  # assertions refuse one before the system is built.
  credential = index: role: file: if file == null then null else {
    name = "destination-${toString index}-${role}";
    file = toString file;
  };
  credentialsOf = index: destination: lib.filter (c: c != null) [
    (credential index "key" (if destination.keyFile != null then destination.keyFile else cfg.keyFile))
    (credential index "s3-credentials" destination.credentialsFile)
    (credential index "aws-config" destination.awsConfigFile)
    (credential index "bearer-token" destination.bearerTokenFile)
    (credential index "netrc" destination.netrcFile)
  ];
  allCredentials = lib.concatLists (lib.imap0 credentialsOf cfg.destinations);
  credentialPath = index: role: "${credentialsDirectory}/destination-${toString index}-${role}";

  destinationSettings = index: destination: nonNull {
    url = destination.url;
    key-files = optional (destination.keyFile != null || cfg.keyFile != null) (credentialPath index "key");
    credentials-file = if destination.credentialsFile != null then credentialPath index "s3-credentials" else null;
    aws-config-file = if destination.awsConfigFile != null then credentialPath index "aws-config" else null;
    aws-profile = destination.awsProfile;
    bearer-token-file = if destination.bearerTokenFile != null then credentialPath index "bearer-token" else null;
    netrc-file = if destination.netrcFile != null then credentialPath index "netrc" else null;
    ca-file = destination.caFile;
    jobs = if destination.jobs != null then destination.jobs else cfg.jobs;
    compression-level = destination.compressionLevel;
    priority = destination.priority;
    include = destination.include;
    exclude = destination.exclude;
    skip-signed-by = destination.skipSignedBy;
    keep-derivations = destination.keepDerivations;
  };

  # Every secret file given, under the option's name as a user would write it.
  destinationSecrets = index: destination: lib.mapAttrs'
    (role: file: lib.nameValuePair "services.narsync.destinations.${toString index}.${role}" file)
    { inherit (destination) keyFile credentialsFile bearerTokenFile netrcFile; };
  secretOptions = lib.filterAttrs (_: file: file != null)
    (lib.foldl' (all: one: all // one) { "services.narsync.keyFile" = cfg.keyFile; } (lib.imap0 destinationSecrets cfg.destinations));

  secretAssertions = lib.mapAttrsToList (option: file: {
    assertion = !(builtins.isPath file) && !(lib.hasPrefix "${builtins.storeDir}/" file);
    message = "${option} is ${if builtins.isPath file then "the path literal ${toString file}" else "\"${file}\", in the Nix store"}: "
      + "the Nix store is world-readable, so a secret must not be there. Give the file's name as a string outside the store, "
      + "e.g. \"/etc/narsync/signing-key.sec\"; systemd hands it to the service as a credential.";
  }) secretOptions;

  settings = lib.recursiveUpdate ({
    state-dir = "/var/lib/narsync";
    log-level = cfg.logLevel;
    watch.initial-backfill = cfg.initialBackfill;
    hook.trust-groups = optional (cfg.hookSocketGroup != null) cfg.hookSocketGroup;
    destination = lib.imap0 destinationSettings cfg.destinations;
  } // optionalAttrs cfg.metrics.enable { metrics.listen = cfg.metrics.listen; }) cfg.settings;

  configFile = (pkgs.formats.toml { }).generate "narsync.toml" settings;
in
{
  options.services.narsync = {
    enable = mkEnableOption "narsync, which publishes every new Nix store path to binary caches";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../nix/package.nix { };
      defaultText = "pkgs.callPackage ./packaging/nix/package.nix { }";
      description = "The narsync package.";
    };

    destinations = mkOption {
      type = types.listOf destinationModule;
      default = [ ];
      description = "Caches to publish to; each has its own key, filters, jobs, watermark and queue.";
    };

    keyFile = mkOption {
      type = secretFile;
      default = null;
      example = "/etc/narsync/signing-key.sec";
      description = "Secret signing key (narsync keygen), used by destinations without their own.";
    };

    jobs = mkOption { type = types.ints.positive; default = 4; description = "Uploads in flight per destination."; };

    filters = {
      include = mkOption { type = types.listOf types.str; default = [ ]; example = [ "hello-*" ]; description = "Publish only paths whose name matches one of these globs."; };
      exclude = mkOption { type = types.listOf types.str; default = [ ]; example = [ "*-source" ]; description = "Never publish paths whose name matches one of these globs."; };
      skipSignedBy = mkOption { type = types.listOf types.str; default = [ "cache.nixos.org-1" ]; description = "Skip paths already signed by these keys (they can be substituted from elsewhere)."; };
    };

    initialBackfill = mkOption { type = types.bool; default = false; description = "On the very first start, publish the whole store."; };

    logLevel = mkOption { type = types.enum [ "trace" "debug" "info" "notice" "warning" "error" "critical" ]; default = "info"; description = "Log level."; };

    metrics = {
      enable = mkEnableOption "the Prometheus metrics endpoint";
      listen = mkOption { type = types.str; default = "127.0.0.1:9400"; description = "Address and port of the metrics endpoint."; };
    };

    setPostBuildHook = mkOption {
      type = types.bool;
      default = true;
      description = "Set nix.settings.post-build-hook to narsync-hook, so builds reach the service at once.";
    };

    hookSocketGroup = mkOption {
      type = types.nullOr types.str;
      default = "narsync-hook";
      example = "wheel";
      description = ''
        Group of the hook socket /run/narsync/hook.sock (mode 0660): its members may hand built
        paths to the service with narsync-hook, besides root (nix-daemon runs the
        post-build-hook as root). The service joins the group (SupplementaryGroups) to give the
        socket to it, and trusts its members (checked with SO_PEERCRED). The group is created
        if it does not exist; null leaves the socket to root alone.
      '';
    };

    settings = mkOption {
      type = (pkgs.formats.toml { }).type;
      default = { };
      description = "Further config.toml settings, merged over the ones above.";
    };

    # narsync gc on a timer (see README, "Keeping a cache healthy").
    gc = {
      enable = mkEnableOption "narsync gc on a timer, removing closures nobody has published or used for a while";
      cache = mkOption {
        type = types.str;
        default = if cfg.destinations != [ ] then (lib.head cfg.destinations).url else "";
        defaultText = "the first destination's url";
        description = "The cache to collect: file:///dir or s3://bucket?...";
      };
      credentialsFile = mkOption {
        type = types.nullOr types.str;
        default = if cfg.destinations != [ ] then (lib.head cfg.destinations).credentialsFile else null;
        defaultText = "the first destination's credentialsFile";
        description = "S3: an AWS shared credentials file, handed over as a systemd credential.";
      };
      olderThan = mkOption {
        type = types.strMatching "[0-9]+[dhm]";
        default = "90d";
        example = "30d";
        description = "Remove paths whose narinfo is older than this (not published or renewed since), unless kept.";
      };
      keep = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "/run/current-system" ];
        description = "Store paths kept with their closures however old (e.g. deployed systems); symlinks into the store are resolved when the timer runs.";
      };
      schedule = mkOption {
        type = types.str;
        default = "weekly";
        description = "When to run, as systemd.time(7) OnCalendar.";
      };
    };
  };

  config = mkIf cfg.enable {
    assertions = [{
      assertion = cfg.destinations != [ ];
      message = "services.narsync.destinations must name at least one cache.";
    }] ++ secretAssertions;

    users.groups = mkIf (cfg.hookSocketGroup != null) { ${cfg.hookSocketGroup} = { }; };

    environment.etc."narsync/config.toml".source = configFile;
    environment.systemPackages = [ cfg.package ];

    nix.settings = mkIf cfg.setPostBuildHook {
      post-build-hook = "${cfg.package}/bin/narsync-hook";
    };

    systemd.services.narsync = {
      description = "narsync: replicate the Nix store into binary caches";
      after = [ "network-online.target" "nix-daemon.service" ];
      wants = [ "network-online.target" ];
      wantedBy = [ "multi-user.target" ];
      restartTriggers = [ configFile ];
      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${cfg.package}/bin/narsync watch --config /etc/narsync/config.toml";
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartSec = "5s";
        TimeoutStopSec = "2min";
        LoadCredential = map (c: "${c.name}:${c.file}") allCredentials;
        # Its own user, allocated by systemd while it runs; it owns only the directories below.
        DynamicUser = true;
        SupplementaryGroups = optional (cfg.hookSocketGroup != null) cfg.hookSocketGroup;
        StateDirectory = "narsync";
        StateDirectoryMode = "0700";
        # The hook socket's directory: open to look into, the socket itself 0660 for its group.
        RuntimeDirectory = "narsync";
        RuntimeDirectoryMode = "0755";
        RuntimeDirectoryPreserve = "yes";
        # The store and Nix's database are read, never written: nothing under /nix is writable.
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ReadOnlyPaths = [ "/nix" ];
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        SystemCallArchitectures = "native";
        CapabilityBoundingSet = "";
        UMask = "0077";
      };
    };

    # narsync gc on a timer: the kept paths are resolved (symlinks such as /run/current-system)
    # into a --keep-from file when it runs.
    systemd.services.narsync-gc = mkIf cfg.gc.enable {
      description = "narsync gc: remove old closures from the binary cache";
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      script = ''
        keep="$RUNTIME_DIRECTORY/keep"
        : > "$keep"
        for path in ${lib.escapeShellArgs cfg.gc.keep}; do
          if [ -e "$path" ]; then readlink -f "$path" >> "$keep"; fi
        done
        exec ${cfg.package}/bin/narsync gc ${lib.escapeShellArg cfg.gc.cache} \
          --older-than ${lib.escapeShellArg cfg.gc.olderThan} --keep-from "$keep"
      '';
      environment = optionalAttrs (cfg.gc.credentialsFile != null) {
        AWS_SHARED_CREDENTIALS_FILE = "/run/credentials/narsync-gc.service/s3-credentials";
      };
      serviceConfig = {
        Type = "oneshot";
        LoadCredential = optional (cfg.gc.credentialsFile != null) "s3-credentials:${cfg.gc.credentialsFile}";
        RuntimeDirectory = "narsync-gc";
        Nice = 10;
        IOSchedulingClass = "idle";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ReadWritePaths = lib.optional (lib.hasPrefix "file://" cfg.gc.cache) (lib.removePrefix "file://" cfg.gc.cache);
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
        LockPersonality = true;
      };
    };
    systemd.timers.narsync-gc = mkIf cfg.gc.enable {
      description = "narsync gc of the binary cache";
      wantedBy = [ "timers.target" ];
      timerConfig = { OnCalendar = cfg.gc.schedule; Persistent = true; RandomizedDelaySec = "1h"; };
    };
  };
}

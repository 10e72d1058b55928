#!/usr/bin/env bash
# Publishes one large store path (default 1 GiB) to a file:// cache with Nix's own
# `nix copy --to file://...?compression=zstd` and with `narsync backfill`, in the same run, and
# reports wall time, throughput and peak RSS of each, and their ratios.
#
#   benchmarks/large-path.sh [SIZE_MIB]        (needs root, nix-bin, GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}

swift build -c release --product narsync >&2
narsync=$(swift build -c release --show-bin-path)/narsync
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

work=$(mktemp -d /var/tmp/narsync-bench.XXXXXX)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
mkdir -p "$work/conf" "$work/xdg"
printf 'build-users-group =\nsandbox = false\nsubstituters =\nexperimental-features = nix-command\n' > "$work/conf/nix.conf"
export NIX_CONF_DIR="$work/conf" XDG_CACHE_HOME="$work/xdg"
store="$work/store"

# Text-like content (base64 of random bytes): compresses by about a quarter, like real outputs.
mkdir "$work/payload"
head -c $((size_mib * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76 > "$work/payload/data"
path=$(nix-store --store "$store" --add "$work/payload")
rm -rf "$work/payload"
nix-store --generate-binary-cache-key bench-1 "$work/key.sec" "$work/key.pub"
nar_size=$(nix path-info --store "$store" --json "$path" | sed 's/.*"narSize":\([0-9]*\).*/\1/')
# Warm the page cache so both tools read from memory.
cat "$store$path"/* > /dev/null

measure() { # name, command...
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" > "$work/$name.out" 2>&1 || { cat "$work/$name.out"; exit 1; }
    read -r seconds rss_kib < "$work/$name.time"
    printf '%-8s %7.2f s  %7.1f MB/s  peak RSS %6.1f MiB\n' "$name" "$seconds" \
        "$(echo "$nar_size / $seconds / 1000000" | bc -l)" "$(echo "$rss_kib / 1024" | bc -l)"
    eval "${name}_seconds=$seconds ${name}_rss=$rss_kib"
}

echo "one path, NAR size $nar_size bytes, $(nproc) cores"
measure nix nix copy --store "$store" --to "file://$work/nix-cache?compression=zstd&secret-key=$work/key.sec" "$path"
measure narsync "$narsync" backfill --store-root "$store" --to "file://$work/narsync-cache" --key-file "$work/key.sec" "$path"
printf 'narsync/nix: %.2fx throughput, %.2fx peak RSS\n' \
    "$(echo "$nix_seconds / $narsync_seconds" | bc -l)" "$(echo "$narsync_rss / $nix_rss" | bc -l)"

#!/usr/bin/env bash
# Publishes (1) one large path and (2) 2,000 small paths to a moto S3 endpoint, with Nix's
# `nix copy --to http://127.0.0.1:PORT/BUCKET` (Nix 2.8's only way to reach a bucket) and with
# `narsync backfill --to s3://BUCKET?endpoint=...`, in the same run, and reports the ratios.
#
#   benchmarks/s3.sh [LARGE_MIB] [SMALL_COUNT]     (needs root, nix-bin, moto_server, GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
large_mib=${1:-1024}
small_count=${2:-2000}

swift build -c release --product narsync >&2
narsync=$(swift build -c release --show-bin-path)/narsync

work=$(mktemp -d /var/tmp/narsync-bench-s3.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null; chmod -R u+w "$work"; rm -rf "$work"' EXIT
mkdir -p "$work/conf" "$work/xdg"
printf 'build-users-group =\nsandbox = false\nsubstituters =\nexperimental-features = nix-command\n' > "$work/conf/nix.conf"
export NIX_CONF_DIR="$work/conf" XDG_CACHE_HOME="$work/xdg" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
store="$work/store"
until curl -s "http://127.0.0.1:$port/" >/dev/null; do sleep 0.2; done

bucket() { # name: a bucket anyone may read and write, as Nix's unsigned HTTP PUTs need
    curl -sf -X PUT "http://127.0.0.1:$port/$1" >/dev/null
    curl -sf -X PUT "http://127.0.0.1:$port/$1?policy" -H 'Content-Type: application/json' -d \
        "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":[\"s3:GetObject\",\"s3:HeadObject\",\"s3:PutObject\"],\"Resource\":\"arn:aws:s3:::$1/*\"}]}" >/dev/null
}

nix-store --generate-binary-cache-key bench-1 "$work/key.sec" "$work/key.pub"
mkdir "$work/payload"
head -c $((large_mib * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76 > "$work/payload/data"
large=$(nix-store --store "$store" --add "$work/payload")
rm -rf "$work/payload"
small=$(nix-instantiate --store "$store" --read-write-mode --eval --strict --json -E \
    "map (i: builtins.toFile \"small-\${toString i}\" \"content \${toString i}\\n\") (builtins.genList (i: i) $small_count)" |
    tr -d '[]"' | tr ',' ' ')

measure() { # label, command...
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out" 2>&1 || { cat "$work/out"; exit 1; }
    read -r seconds rss < "$work/time"
    printf '%-28s %8.2f s  peak RSS %6.1f MiB\n' "$label" "$seconds" "$(echo "$rss / 1024" | bc -l)"
    last=$seconds
}

echo "$(nproc) cores; moto on port $port"
bucket nix-large; bucket narsync-large; bucket nix-small; bucket narsync-small
measure "nix copy, ${large_mib} MiB path" nix copy --store "$store" --to "http://127.0.0.1:$port/nix-large?compression=zstd&secret-key=$work/key.sec" "$large"
nix_large=$last
measure "narsync, ${large_mib} MiB path" "$narsync" backfill --store-root "$store" --key-file "$work/key.sec" \
    ${NARSYNC_ARGS:-} --to "s3://narsync-large?endpoint=127.0.0.1:$port&scheme=http&region=us-east-1" "$large"
narsync_large=$last
# shellcheck disable=SC2086
measure "nix copy, $small_count small paths" nix copy --store "$store" --to "http://127.0.0.1:$port/nix-small?compression=zstd&secret-key=$work/key.sec" $small
nix_small=$last
# shellcheck disable=SC2086
measure "narsync, $small_count small paths" "$narsync" backfill --store-root "$store" --key-file "$work/key.sec" --jobs 16 \
    --to "s3://narsync-small?endpoint=127.0.0.1:$port&scheme=http&region=us-east-1" $small
narsync_small=$last
printf 'narsync/nix: large path %.2fx faster, small paths %.2fx faster\n' \
    "$(echo "$nix_large / $narsync_large" | bc -l)" "$(echo "$nix_small / $narsync_small" | bc -l)"

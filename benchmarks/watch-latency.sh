#!/usr/bin/env bash
# `narsync watch` on a throwaway store publishing to a file:// cache, default settings:
#   - latency from Nix committing a small path (`nix-store --add`) to its narinfo being readable,
#     median and 90th percentile over N paths;
#   - CPU time used while idle for IDLE_SECONDS;
#   - optionally with a database of EXTRA extra valid paths first (detection must not slow down).
#
#   benchmarks/watch-latency.sh [N] [IDLE_SECONDS] [EXTRA]     (needs root, nix-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-50}
idle=${2:-60}
extra=${3:-0}

swift build -c release --product narsync >&2
narsync=$(swift build -c release --show-bin-path)/narsync
work=$(mktemp -d /var/tmp/narsync-bench-watch.XXXXXX)
trap 'kill $watch 2>/dev/null; chmod -R u+w "$work"; rm -rf "$work"' EXIT
mkdir -p "$work/conf" "$work/xdg"
printf 'build-users-group =\nsandbox = false\nsubstituters =\nexperimental-features = nix-command\n' > "$work/conf/nix.conf"
export NIX_CONF_DIR="$work/conf" XDG_CACHE_HOME="$work/xdg"
store="$work/store"
echo seed > "$work/seed"; nix-store --store "$store" --add "$work/seed" >/dev/null
if ((extra > 0)); then
    nix-instantiate --store "$store" --read-write-mode --eval --strict -E \
        "let paths = map (i: builtins.toFile \"bulk-\${toString i}\" \"\${toString i}\") (builtins.genList (i: i) $extra); in builtins.deepSeq paths (builtins.length paths)" >/dev/null
fi
echo "valid paths in the database: $(sqlite3 "$store/nix/var/nix/db/db.sqlite" 'select count(*) from ValidPaths')"

"$narsync" watch --store-root "$store" --state-dir "$work/state" --hook-socket none > "$work/watch.log" 2>&1 &
watch=$!
until grep -q watching "$work/watch.log"; do sleep 0.05; done

latencies=()
for i in $(seq 1 "$count"); do
    echo "latency probe $i $RANDOM$RANDOM" > "$work/probe"
    start=$(date +%s%N)
    path=$(nix-store --store "$store" --add "$work/probe")
    narinfo="$work/state/cache/$(basename "$path" | cut -c1-32).narinfo"
    until [[ -f "$narinfo" ]]; do sleep 0.002; done
    latencies+=($((($(date +%s%N) - start) / 1000000)))
done
sorted=($(printf '%s\n' "${latencies[@]}" | sort -n))
echo "latency over $count paths: median ${sorted[$((count / 2))]} ms, p90 ${sorted[$((count * 9 / 10))]} ms, max ${sorted[$((count - 1))]} ms"

ticks() { awk '{print $14 + $15}' "/proc/$watch/stat"; }
sleep 2
before=$(ticks)
sleep "$idle"
after=$(ticks)
echo "idle CPU over ${idle} s: $(((after - before) * 1000 / $(getconf CLK_TCK))) ms"
echo "peak RSS: $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' "/proc/$watch/status")"

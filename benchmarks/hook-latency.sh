#!/usr/bin/env bash
# Wall time of `narsync hook` as Nix's post-build-hook calls it: the median of N calls (default
# 50) with no service listening (the request is spooled, fsync included) and with a listener
# that answers like the service (a small Python stand-in, so only the hook is measured).
#
#   benchmarks/hook-latency.sh [CALLS] [debug|release]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-50}
configuration=${2:-release}

swift build -c "$configuration" --product narsync >&2
narsync=$(swift build -c "$configuration" --show-bin-path)/narsync

work=$(mktemp -d /tmp/narsync-hook-bench.XXXXXX)
listener=
trap '[ -n "$listener" ] && kill "$listener" 2>/dev/null; rm -rf "$work"' EXIT
export OUT_PATHS="/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-hello-2.12 /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-hello-2.12-man"
export DRV_PATH="/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-hello-2.12.drv"

# Prints the median wall time in milliseconds of $calls runs of the hook.
median_ms() {
    local times=() start end
    for _ in $(seq "$calls"); do
        start=$(date +%s%N)
        "$narsync" hook --socket "$work/hook.sock" --spool-dir "$work/spool" 2>/dev/null
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v n="$calls" 'NR == int(n / 2) + 1 { printf "%.2f", $1 / 1000 }'
}

echo "narsync hook ($configuration build), median of $calls calls:"
echo "  service stopped, request spooled: $(median_ms) ms ($(ls "$work/spool" | wc -l) files spooled)"

python3 - "$work/hook.sock" <<'PY' &
import socket, sys
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1]); server.listen(64)
while True:
    connection, _ = server.accept()
    data = b""
    while not data.endswith(b"\nend\n"):
        chunk = connection.recv(65536)
        if not chunk: break
        data += chunk
    connection.sendall(b"ok %d\n" % data.count(b"\nout "))
    connection.close()
PY
listener=$!
for _ in $(seq 50); do [ -S "$work/hook.sock" ] && break; sleep 0.1; done
rm -rf "$work/spool"
echo "  service listening, request queued: $(median_ms) ms ($(ls "$work/spool" 2>/dev/null | wc -l) files spooled)"

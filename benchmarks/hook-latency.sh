#!/usr/bin/env bash
# Wall time of `narsync hook` and `narsync-hook` as Nix's post-build-hook calls them: the median
# of N calls (default 50) with no service listening (the request is spooled, fsync included) and
# with a listener that answers like the service (a small Python stand-in, so only the hook is
# measured). Extra arguments go to `swift build`, e.g. --static-swift-stdlib.
#
#   benchmarks/hook-latency.sh [CALLS] [debug|release] [SWIFT BUILD OPTIONS...]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-50}
configuration=${2:-release}
shift 2 || true

swift build -c "$configuration" "$@" --product narsync >&2
swift build -c "$configuration" "$@" --product narsync-hook >&2
bin=$(swift build -c "$configuration" "$@" --show-bin-path)

work=$(mktemp -d /tmp/narsync-hook-bench.XXXXXX)
listener=
trap '[ -n "$listener" ] && kill "$listener" 2>/dev/null; rm -rf "$work"' EXIT
export OUT_PATHS="/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-hello-2.12 /nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-hello-2.12-man"
export DRV_PATH="/nix/store/00rn9ycyln9km24xqsq6y3bd5njkazsv-hello-2.12.drv"

export NARSYNC_HOOK_SOCKET="$work/hook.sock" NARSYNC_SPOOL_DIR="$work/spool"

# Prints the median wall time in milliseconds of $calls runs of command "$@".
median_ms() {
    local times=() start end
    for _ in $(seq "$calls"); do
        start=$(date +%s%N)
        "$@" 2>/dev/null
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v n="$calls" 'NR == int(n / 2) + 1 { printf "%.2f", $1 / 1000 }'
}

# Both binaries, then /bin/true for what starting any process costs here.
measure() {
    echo "  narsync hook:  $(median_ms "$bin/narsync" hook) ms"
    echo "  narsync-hook:  $(median_ms "$bin/narsync-hook") ms"
    echo "  /bin/true:     $(median_ms /bin/true) ms"
}

echo "median of $calls calls ($configuration build $*), service stopped, requests spooled:"
measure
echo "  ($(ls "$work/spool" | wc -l) files spooled)"

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
echo "service listening, requests queued:"
measure
echo "  ($(ls "$work/spool" 2>/dev/null | wc -l) files spooled)"

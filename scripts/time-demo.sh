#!/usr/bin/env bash
# Times `make demo` on a fresh clone of this repository: from `git clone` to the service
# answering /ready, then stops the service. The figure in CHANGELOG.md was measured so.
#
#   scripts/time-demo.sh [clone-folder]       (default: a new temporary folder)
#
# PORT (default 8765) keeps clear of a service already on 8000; it must be free.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
clone="${1:-$(mktemp -d)/demo-clone}"
port="${PORT:-8765}"
if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "something already answers on port $port: set PORT to a free one" >&2
    exit 2
fi
rm -rf "$clone"
start=$(date +%s.%N)
git clone --quiet "$repo" "$clone"
cd "$clone"
# Its own process group, so that stopping it stops make and the server it started.
PORT="$port" setsid make demo >"$clone.log" 2>&1 &
demo=$!
stop() { kill -TERM -- "-$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; }
trap stop EXIT
until curl -sf -o /dev/null "http://127.0.0.1:$port/ready"; do
    if ! kill -0 "$demo" 2>/dev/null; then
        echo "make demo stopped before the service answered; $clone.log:" >&2
        tail -n 20 "$clone.log" >&2
        exit 1
    fi
    sleep 0.2
done
end=$(date +%s.%N)
# CPU seconds of make and all it started (fields 14-17 of /proc/<pid>/stat: user, system,
# and those of waited-for children), which other load on the machine changes little.
ticks=0
for pid in $(pgrep -g "$demo"); do
    ticks=$((ticks + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
done
echo "make demo on a fresh clone: /ready answered after $(awk "BEGIN { printf \"%.1f\", $end - $start }") s"
echo "CPU time (user + system): $(awk "BEGIN { printf \"%.1f\", $ticks / $(getconf CLK_TCK) }") s"
echo "(uv: $(command -v uv || echo absent); log: $clone.log)"

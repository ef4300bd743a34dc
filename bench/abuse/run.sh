#!/usr/bin/env bash
# Abuse benchmark: starts keel inside a private network namespace (loopback only), joins a few
# well-behaved nodes, and measures their endpoint-update round trips alone and then under each
# kind of abuse (bench/abuse/main.go). Exits non-zero when p99 under some abuse breaks the
# bound (FACTOR x baseline p99 + SLACK) or a good request fails.
#
#   bench/abuse/run.sh
#
# Environment: BUILD_DIR (./build), KEEL_BIN (a keel binary to use as is; otherwise BUILD_DIR's
# is built), FACTOR (2), SLACK (20ms), MEASURE (6s per phase), GOOD (5 nodes), KEEP_WORK (keep
# the work folder with keel's log).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/bench/server_config.sh"
build=${BUILD_DIR:-$root/build}
keel=${KEEL_BIN:-$build/src/cli/keel}
abuse="$build/bench/abuse"
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

# Setup outside the namespace: building may need the Go module proxy.
if [[ -z "${KEEL_ABUSE_INNER:-}" ]]; then
  if [[ -z "${KEEL_BIN:-}" ]]; then
    [[ -f "$build/CMakeCache.txt" ]] || cmake -S "$root" -B "$build" >&2
    cmake --build "$build" --target keel -j 2 >&2
  fi
  mkdir -p "$build/bench"
  (cd "$root/bench/abuse" && go build -o "$abuse" .)
  exec env KEEL_ABUSE_INNER=1 unshare -n -- "$0" "$@"
fi
ip link set lo up

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d "${TMPDIR:-/tmp}/keel-abuse.XXXXXX")
server_pid=
cleanup() {
  # keel exits non-zero on SIGTERM; that must not end the trap before the folder is removed.
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  if [[ -n "${KEEP_WORK:-}" ]]; then echo "work folder: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
port=18080

bench_derp_map > "$work/derp.yaml"
{
  bench_config "$work" "$port" abuse.internal
  echo "private_key_path: $work/private.key"
} > "$work/config.yaml"

"$keel" -c "$work/config.yaml" serve > "$work/keel.log" 2>&1 &
server_pid=$!
for _ in $(seq 300); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { tail -20 "$work/keel.log" >&2; exit 1; }
  sleep 0.1
done

user=$("$keel" -c "$work/config.yaml" users create abuse -o json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
authkey=$("$keel" -c "$work/config.yaml" preauthkeys create -u "$user" --reusable -e 24h -o json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

status=0
"$abuse" -port "$port" -authkey "$authkey" -factor "${FACTOR:-2}" -slack "${SLACK:-20ms}" \
  -measure "${MEASURE:-6s}" -good "${GOOD:-5}" || status=$?

echo "limit trips (keel_limit_trips_total):"
curl -fsS "http://127.0.0.1:$((port + 1))/metrics" | grep '^keel_limit_trips_total' | sed 's/^/  /' || true
echo "keel RSS at the end: $(awk '/VmRSS/ {print $2 " kB"}' "/proc/$server_pid/status")"
exit "$status"

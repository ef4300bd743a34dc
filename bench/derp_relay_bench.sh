#!/usr/bin/env bash
# DERP relay throughput: keel's relay (bench/derp_relay_main) against Tailscale's derper, both
# over TLS on 127.0.0.1, driven by the same load generator (bench/derp-load, built on
# tailscale.com/derp/derphttp) in the same run. For each pair count it prints received
# packets/s and MB/s (1 KiB packets) for both servers and the ratio keel/derper (target >= 1).
#
#   bench/derp_relay_bench.sh [BUILD_DIR]      (default BUILD_DIR: ./build)
#
# Then it holds IDLE (1000; 0 skips) connected, silent clients on each server and prints what
# each idle connection adds to the server's resident memory.
#
# Environment: PAIRS ("1 4 16"), DURATION (5s, measured), WARMUP (1s), ROUNDS (1; with more,
# each figure is the median and the server order alternates), SIZE (1024), WINDOW (64 packets
# in flight per pair), TAILSCALE_VERSION (1.102.3), KEEL_BENCH_NETNS (1: run inside a private
# network namespace with only loopback, when `unshare -n` is allowed; 0: use the host's lo).
#
# Both servers, the load generator and anything else on the machine share its cores: the
# figures compare the two relays under the same conditions, they are not absolute capacity.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
pairs_list=${PAIRS:-"1 4 16"}
duration=${DURATION:-5s}
warmup=${WARMUP:-1s}
rounds=${ROUNDS:-1}
size=${SIZE:-1024}
window=${WINDOW:-64}
idle=${IDLE:-1000}
ts_version=${TAILSCALE_VERSION:-1.102.3}
tools_dir=${KEEL_TOOLS_DIR:-$HOME/.cache/keel-tools}
derper="$tools_dir/tailscale-$ts_version/derper"
loadgen="$build/bench/derp-load"
relay="$build/bench/derp_relay_main"

command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"
command -v jq >/dev/null 2>&1 || { echo "jq is required" >&2; exit 1; }

# Setup (outside the namespace: building may need the Go module proxy).
if [[ -z "${KEEL_DERP_BENCH_INNER:-}" ]]; then
  echo "== building load generator, keel relay runner, derper $ts_version" >&2
  (cd "$root/bench/derp-load" && go build -o "$loadgen" .)
  cmake --build "$build" --target derp_relay_main -j 2 >&2
  "$root/scripts/install-tailscale.sh" "$ts_version" >&2
  if [[ "${KEEL_BENCH_NETNS:-1}" == 1 ]] && unshare -n true 2>/dev/null; then
    exec env KEEL_DERP_BENCH_INNER=netns unshare -n -- "$0" "$build"
  fi
  export KEEL_DERP_BENCH_INNER=host
fi
if [[ "$KEEL_DERP_BENCH_INNER" == netns ]]; then
  ip link set lo up
fi

ulimit -n 65536 2>/dev/null || true  # IDLE clients need a descriptor each, on both ends
work=$(mktemp -d "${TMPDIR:-/tmp}/derp-bench.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# keel: the runner prints "port N" once it listens.
"$relay" --address 127.0.0.1 --port 0 --log-level warn >"$work/keel.out" 2>"$work/keel.err" &
pids+=($!)
declare -A server_pid=([keel]=$!)
# derper: manual cert mode with an IP hostname makes it create a self-signed certificate for
# 127.0.0.1 (like keel's); no plain-HTTP port, no STUN.
derper_port=$(free_port)
"$derper" -a "127.0.0.1:$derper_port" -certmode manual -certdir "$work/derper-certs" \
  -hostname 127.0.0.1 -http-port -1 -stun=false -c "$work/derper.json" \
  >"$work/derper.log" 2>&1 &
pids+=($!)
server_pid[derper]=$!

keel_port=""
for _ in $(seq 100); do
  keel_port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$work/keel.out")
  [[ -n "$keel_port" ]] && grep -q "serving on" "$work/derper.log" && break
  sleep 0.1
done
[[ -n "$keel_port" ]] || { echo "keel relay did not start:" >&2; cat "$work/keel.err" >&2; exit 1; }
grep -q "serving on" "$work/derper.log" || { echo "derper did not start:" >&2; cat "$work/derper.log" >&2; exit 1; }
sleep 0.2

declare -A url=([keel]="https://127.0.0.1:$keel_port/derp" [derper]="https://127.0.0.1:$derper_port/derp")

cpu_ticks() {  # user+system clock ticks used so far by PID (fields 14, 15 of /proc/PID/stat)
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# load SERVER PAIRS -> one JSON line, tagged with the server and the server's CPU cost per
# packet (microseconds of server CPU per received packet, over the whole run).
load() {
  local before after
  before=$(cpu_ticks "${server_pid[$1]}")
  "$loadgen" -url "${url[$1]}" -insecure -pairs "$2" -duration "$duration" -warmup "$warmup" \
    -size "$size" -window "$window" >"$work/one.json"
  after=$(cpu_ticks "${server_pid[$1]}")
  jq -c --arg s "$1" --argjson ticks "$((after - before))" --argjson hz "$(getconf CLK_TCK)" \
    '. + {server: $s, cpu_us_per_pkt: ($ticks / $hz * 1e6 / ([.received_all, 1] | max))}' \
    "$work/one.json"
}

echo "== $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)" \
  "(network: $KEEL_DERP_BENCH_INNER; transport: TLS both)" >&2
results="$work/results.jsonl"
for n in $pairs_list; do
  for ((r = 0; r < rounds; r++)); do
    order=(keel derper)
    ((r % 2)) && order=(derper keel)
    for s in "${order[@]}"; do
      load "$s" "$n" | tee -a "$results" | jq -r '"  \(.server) pairs=\(.pairs): \(.pkts_per_sec|floor) pkts/s, drop \(.drop_percent*100|round/100)%, \(.cpu_us_per_pkt*100|round/100) us CPU/pkt"' >&2
    done
  done
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# Median per (server, pairs); then one row per pair count.
jq -rs --argjson size "$size" '
  def median: sort | if length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
  group_by(.pairs) | .[] | . as $g
  | [("keel","derper") as $s | [$g[] | select(.server == $s) | .pkts_per_sec] | median] as [$k, $d]
  | [($g[] | select(.server == "keel") | .drop_percent)] as $kd
  | [($g[] | select(.server == "derper") | .drop_percent)] as $dd
  | [("keel","derper") as $s | [$g[] | select(.server == $s) | .cpu_us_per_pkt] | median] as [$kc, $dc]
  | [$g[0].pairs, $k, $k * $size / 1e6, ($kd | max), $kc, $d, $d * $size / 1e6, ($dd | max), $dc, $k / $d]
  | @tsv' "$results" |
awk -F'\t' -v size="$size" -v dur="$duration" -v rounds="$rounds" '
  BEGIN {
    printf "DERP relay throughput, %d-byte packets, %s measured, %d round(s), TLS on 127.0.0.1\n", size, dur, rounds
    printf "%5s | %12s %8s %6s %7s | %12s %8s %6s %7s | %11s\n", "pairs", "keel pkt/s", "MB/s", "drop%", "us/pkt", "derper pkt/s", "MB/s", "drop%", "us/pkt", "keel/derper"
  }
  { printf "%5d | %12.0f %8.1f %6.2f %7.2f | %12.0f %8.1f %6.2f %7.2f | %11.2f\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }
  END { print "us/pkt: server CPU time (user+sys) per relayed packet, median; lower is better" }'

# Idle connections: resident memory of each server before and while IDLE clients sit on it.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
if ((idle > 0)); then
  declare -A per_conn
  for s in keel derper; do
    before=$(rss_kib "${server_pid[$s]}")
    "$loadgen" -url "${url[$s]}" -insecure -idle "$idle" -hold 3s >"$work/idle.out" &
    gen=$!
    for _ in $(seq 600); do grep -q idle "$work/idle.out" && break; sleep 0.1; done
    grep -q idle "$work/idle.out" || { echo "idle clients did not connect to $s" >&2; exit 1; }
    sleep 1
    during=$(rss_kib "${server_pid[$s]}")
    wait "$gen"
    per_conn[$s]=$(awk -v b="$before" -v d="$during" -v n="$idle" 'BEGIN {printf "%.1f", (d - b) / n}')
  done
  echo "Idle connections: $idle held per server; resident memory added per connection:" \
    "keel ${per_conn[keel]} KiB, derper ${per_conn[derper]} KiB"
fi
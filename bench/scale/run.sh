#!/usr/bin/env bash
# Scale runner: the same load (bench/loadgen, N simulated nodes on Tailscale's own transport)
# against keel and against Headscale, one after the other on this machine, both on SQLite,
# inside a private network namespace with only loopback. Prints each run's table and the
# keel/Headscale ratios, and writes bench/results/<date>.json.
#
#   bench/scale/run.sh [SCENARIO ...]     (default: s1 s2 s3)
#
# Scenarios:
#   s1     full mesh, 1,000 nodes: join storm at concurrency 50, then 50 endpoint changes
#   s2     100 groups of 100 nodes plus 10 shared servers everyone may reach (a policy with a
#          rule per group and one for the servers): join storm, then 200 endpoint changes
#   s3     full mesh, 10,000 nodes: join storm, then 50 endpoint changes, then (keel only) the
#          idle scenario on the same nodes: 10,000 streams, nothing changing, for IDLE_FOR;
#          Headscale only as far as it gets in HEADSCALE_LIMIT
#   smoke  full mesh, 50 nodes, 10 changes, keel only (what CI runs)
#
# Environment: BUILD_DIR (./build), KEEL_BIN (a keel binary to use as it is; otherwise the
# runner builds BUILD_DIR's), SERVERS ("keel headscale"), HEADSCALE_VERSION (0.29.2),
# HEADSCALE_LIMIT (15m: a Headscale run that has not converged by then is cut off and reported
# as such; KEEL_LIMIT, 30m, for keel), IDLE_FOR (5m), S1_NODES/S2_GROUPS/S2_PER_GROUP/S3_NODES
# to scale down, CHANGES (the endpoint changes of every scenario), OUT
# (bench/results/<date>.json; "-" writes nothing), KEEP_WORK (keep the work folder and its
# per-run JSON), EXTRA_RESULTS (a kept work folder whose runs join the table where this
# invocation has none), SKIP (runs not to repeat, e.g. "headscale-s2 headscale-s3"), KEEL_BENCH_NETNS (1; 0 uses the host's loopback when namespaces are
# not allowed).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/bench/server_config.sh"
build=${BUILD_DIR:-$root/build}
hs_version=${HEADSCALE_VERSION:-0.29.2}
tools_dir=${KEEL_TOOLS_DIR:-$HOME/.cache/keel-tools}
headscale="$tools_dir/headscale-$hs_version/headscale"
keel=${KEEL_BIN:-$build/src/cli/keel}
loadgen="$build/bench/loadgen"
servers=${SERVERS:-"keel headscale"}
scenarios=${*:-"s1 s2 s3"}
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

# Setup, outside the namespace: building may need the Go module proxy.
if [[ -z "${KEEL_SCALE_INNER:-}" ]]; then
  echo "== building keel, the load generator; Headscale $hs_version" >&2
  if [[ -z "${KEEL_BIN:-}" ]]; then
    [[ -f "$build/CMakeCache.txt" ]] || cmake -S "$root" -B "$build" >&2
    cmake --build "$build" --target keel -j 2 >&2
  fi
  mkdir -p "$build/bench"
  (cd "$root/bench/loadgen" && go build -o "$loadgen" .)
  if [[ " $servers " == *" headscale "* ]]; then
    "$root/scripts/install-headscale.sh" "$hs_version" >&2
  fi
  if [[ "${KEEL_BENCH_NETNS:-1}" == 1 ]] && unshare -n true 2>/dev/null; then
    exec env KEEL_SCALE_INNER=netns unshare -n -- "$0" "$@"
  fi
  export KEEL_SCALE_INNER=host
fi
[[ "$KEEL_SCALE_INNER" == netns ]] && ip link set lo up

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d "${TMPDIR:-/tmp}/keel-scale.XXXXXX")
server_pid=
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$work"
}
trap cleanup EXIT
port=18080

# config SERVER DIR POLICY: the server's config file on port $port, state under DIR.
config() {
  local server=$1 d=$2 policy=$3
  bench_config "$d" "$port" scale.internal
  if [[ $server == headscale ]]; then
    printf 'disable_check_updates: true\nlogtail:\n  enabled: false\n'
  else
    printf 'private_key_path: %s/private.key\n' "$d"
  fi
  [[ -z "$policy" ]] || printf 'policy:\n  mode: file\n  path: %s\n' "$policy"
}

# partition_policy GROUPS: one user per group (g0 ... g<N-1>) whose members see each other,
# plus user srv whose nodes everyone may reach.
partition_policy() {
  python3 - "$1" <<'PY'
import json, sys
g = int(sys.argv[1])
groups = {f"group:g{i}": [f"g{i}@"] for i in range(g)}
groups["group:srv"] = ["srv@"]
acls = [{"action": "accept", "src": [f"group:g{i}"], "dst": [f"group:g{i}:*"]} for i in range(g)]
acls.append({"action": "accept", "src": ["*"], "dst": ["group:srv:*"]})
print(json.dumps({"groups": groups, "acls": acls}, indent=1))
PY
}

# cli SERVER ARGS...: the server's own CLI (keel follows Headscale's verbs and flags).
cli() {
  local server=$1; shift
  local bin=$keel
  [[ $server == headscale ]] && bin=$headscale
  "$bin" -c "$dir/config.yaml" "$@"
}

# authkey SERVER USER: creates USER and a reusable key for it; prints the key.
authkey() {
  local id
  id=$(cli "$1" users create "$2" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  cli "$1" preauthkeys create -u "$id" --reusable -e 24h -o json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}

start_server() {
  local server=$1 policy=$2
  dir="$work/$server-$scenario"
  mkdir -p "$dir"
  bench_derp_map > "$dir/derp.yaml"
  config "$server" "$dir" "$policy" > "$dir/config.yaml"
  local bin=$keel
  [[ $server == headscale ]] && bin=$headscale
  "$bin" -c "$dir/config.yaml" serve > "$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$server did not start; its log:" >&2
  tail -20 "$dir/server.log" >&2
  return 1
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# run_one SERVER SCENARIO: one loadgen run; its JSON lands in $work/SERVER-SCENARIO.json.
run_one() {
  local server=$1 limit=${HEADSCALE_LIMIT:-15m}
  local nodes groups=0 servers_n=0 changes conc=50 rate=10 idle=0 policy="" keys
  case $scenario in
    smoke) nodes=50; changes=10 ;;
    s1) nodes=${S1_NODES:-1000}; changes=50 ;;
    s2) groups=${S2_GROUPS:-100}; servers_n=10; nodes=$((groups * ${S2_PER_GROUP:-100} + servers_n)); changes=200 ;;
    s3) nodes=${S3_NODES:-10000}; changes=50; [[ $server == keel ]] && idle=${IDLE_FOR:-5m} ;;
  esac
  changes=${CHANGES:-$changes}
  [[ $server == keel ]] && limit=${KEEL_LIMIT:-30m}
  if (( groups > 0 )); then
    policy="$work/policy-$scenario.json"
    partition_policy "$groups" > "$policy"
  fi
  start_server "$server" "$policy"
  keys="$dir/keys"
  if (( groups > 0 )); then
    for ((g = 0; g < groups; g++)); do authkey "$server" "g$g"; done > "$keys"
    authkey "$server" srv >> "$keys"
  else
    authkey "$server" load > "$keys"
  fi
  echo "== $scenario on $server: $nodes nodes" >&2
  local rc=0
  "$loadgen" -url "http://127.0.0.1:$port" -nodes "$nodes" -concurrency "$conc" \
    -groups "$groups" -servers "$servers_n" -authkeys "$keys" -changes "$changes" \
    -change-rate "$rate" -idle "$idle" -timeout "$limit" -server-pid "$server_pid" \
    -label "$scenario/$server" -json "$work/$server-$scenario.json" || rc=$?
  stop_server
  if (( rc != 0 )); then
    echo "== $scenario on $server did not finish (exit $rc); the server log ends:" >&2
    tail -5 "$dir/server.log" >&2
  fi
  return 0
}

for scenario in $scenarios; do
  for server in $servers; do
    [[ $server == headscale && $scenario == smoke ]] && continue
    [[ " ${SKIP:-} " == *" $server-$scenario "* ]] && continue
    run_one "$server"
  done
done

# Runs of an earlier invocation (its KEEP_WORK folder) join the table where this one did not
# repeat them, e.g. Headscale's 15-minute S2 and S3 next to a newer keel.
if [[ -n "${EXTRA_RESULTS:-}" ]]; then
  cp -n -p "$EXTRA_RESULTS"/*.json "$work/" 2>/dev/null || true
fi
out=${OUT:-$root/bench/results/$(date -u +%Y-%m-%d).json}
python3 "$root/bench/scale/summarize.py" "$work" "$out" "$hs_version" \
  "$("$keel" version 2>/dev/null | head -1)" "$scenarios" "$servers"

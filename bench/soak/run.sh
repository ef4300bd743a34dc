#!/usr/bin/env bash
# Soak runner: keel (a copy of the built binary) under a churning tailnet of simulated nodes
# (bench/loadgen -soak, on Tailscale's own transport) for DURATION, inside a private network
# namespace with only loopback, sampling keel's memory, descriptors, CPU and threads as it goes.
# Churn: nodes join (some ephemeral) and leave (then are deleted through the REST API, cleaned
# up by keel, or come back later), change endpoints, drop and reopen their map streams, and the
# policy flips between two versions so every node gets a new packet filter.
# It ends with the trend over the second half of the run and a verdict: "flat", or "GROWING"
# (exit 3) when the projected growth over the run is 5% of keel's memory or 5 descriptors.
#
#   DURATION=30m bench/soak/run.sh
#
# Environment: DURATION (30m; Go syntax), NODES (500), SAMPLE (10, seconds), OUT
# (bench/results/soak-<date>.json; "-" writes nothing), VERDICT (1 enforces the trend verdict;
# default 1 for runs of 10 minutes or more, 0 below, where a trend means nothing), KEEL_BIN
# (build/src/cli/keel, copied before the run so a rebuild cannot swap it mid-run), BUILD_DIR,
# LOADGEN_FLAGS (more loadgen flags, e.g. "-soak-leaves 20"), KEEP_WORK, KEEL_BENCH_NETNS (1;
# 0 uses the host's loopback where namespaces are not allowed).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/bench/server_config.sh"
build=${BUILD_DIR:-$root/build}
duration=${DURATION:-30m}
nodes=${NODES:-500}
command -v go >/dev/null 2>&1 || export PATH="$PATH:/usr/local/go/bin"

# Setup, outside the namespace: building may need the Go module proxy.
if [[ -z "${KEEL_SOAK_INNER:-}" ]]; then
  export KEEL_SOAK_WORK
  KEEL_SOAK_WORK=$(mktemp -d "${TMPDIR:-/tmp}/keel-soak.XXXXXX")
  cp "${KEEL_BIN:-$build/src/cli/keel}" "$KEEL_SOAK_WORK/keel"
  (cd "$root/bench/loadgen" && go build -o "$KEEL_SOAK_WORK/loadgen" .)
  if [[ "${KEEL_BENCH_NETNS:-1}" == 1 ]] && unshare -n true 2>/dev/null; then
    exec env KEEL_SOAK_INNER=netns unshare -n -- "$0" "$@"
  fi
  export KEEL_SOAK_INNER=host
fi
[[ "$KEEL_SOAK_INNER" == netns ]] && ip link set lo up

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$KEEL_SOAK_WORK
keel=$work/keel
keel_pid=
loadgen_pid=
# Every step tolerates failure: under set -e a non-zero status here (keel's exit status on
# SIGTERM, say) would end the trap before the work folder, a copy of keel, is removed.
cleanup() {
  if [[ -n "$loadgen_pid" ]]; then kill "$loadgen_pid" 2>/dev/null || true; fi
  if [[ -n "$keel_pid" ]]; then
    kill "$keel_pid" 2>/dev/null || true
    wait "$keel_pid" 2>/dev/null || true
  fi
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$work"
}
trap cleanup EXIT
port=18180

{
  bench_config "$work" "$port" soak.internal
  cat <<YAML
private_key_path: $work/private.key
policy:
  mode: database
node:
  ephemeral:
    inactivity_timeout: 30s
YAML
} > "$work/config.yaml"
bench_derp_map > "$work/derp.yaml"
# The two policies the run flips between: both let every node reach every other (so peer
# lists stay put), but their packet filters differ.
cat > "$work/policy-a.json" <<'JSON'
{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}
JSON
cat > "$work/policy-b.json" <<'JSON'
{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:22,80,443"]},
          {"action": "accept", "src": ["*"], "dst": ["*:1024-65535"]}]}
JSON

cli() { "$keel" -c "$work/config.yaml" "$@"; }

"$keel" -c "$work/config.yaml" serve > "$work/keel.log" 2>&1 &
keel_pid=$!
for _ in $(seq 300); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break
  kill -0 "$keel_pid" 2>/dev/null || { echo "keel did not start:" >&2; tail -20 "$work/keel.log" >&2; exit 1; }
  sleep 0.1
done

user=$(cli users create soak -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
key() { cli preauthkeys create -u "$user" --reusable -e 24h "$@" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'; }
key > "$work/key"
ephemeral_key=$(key --ephemeral)
api_key=$(cli apikeys create -e 24h | head -1)

# Created before tail follows it, so not a line of loadgen's is missed.
: > "$work/loadgen.out"
echo "== soak: keel $("$keel" version 2>/dev/null | head -1), $nodes nodes, $duration of churn, a sample every ${SAMPLE:-10}s" >&2
# shellcheck disable=SC2086  # LOADGEN_FLAGS is a list of flags
"$work/loadgen" -url "http://127.0.0.1:$port" -nodes "$nodes" -concurrency 50 \
  -authkeys "$work/key" -soak "$duration" -soak-ephemeral-key "$ephemeral_key" \
  -soak-policies "$work/policy-a.json,$work/policy-b.json" -api-key "$api_key" \
  -label "soak/$nodes" -json "$work/loadgen.json" ${LOADGEN_FLAGS:-} > "$work/loadgen.out" 2>&1 &
loadgen_pid=$!
tail -n +1 -f "$work/loadgen.out" --pid "$loadgen_pid" | sed -u 's/^/   loadgen: /' >&2 &

out=${OUT:-$root/bench/results/soak-$(date -u +%Y-%m-%d).json}
rc=0
python3 "$root/bench/soak/sample.py" --keel-pid "$keel_pid" --loadgen-pid "$loadgen_pid" \
  --metrics "http://127.0.0.1:$((port + 1))/metrics" --interval "${SAMPLE:-10}" \
  --duration "$duration" --loadgen-json "$work/loadgen.json" --out "$out" \
  --verdict "${VERDICT:-auto}" --keel-version "$("$keel" version 2>/dev/null | head -1)" || rc=$?
lrc=0
wait "$loadgen_pid" || lrc=$?
loadgen_pid=
if ! kill -0 "$keel_pid" 2>/dev/null; then
  echo "== keel died during the run; its log ends:" >&2
  tail -20 "$work/keel.log" >&2
  exit 1
fi
if (( lrc != 0 )); then
  echo "== loadgen failed (exit $lrc); its output ends:" >&2
  tail -20 "$work/loadgen.out" >&2
  echo "== keel's log ends:" >&2
  tail -5 "$work/keel.log" >&2
  exit 1
fi
exit "$rc"

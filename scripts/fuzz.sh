#!/usr/bin/env bash
# Builds every libFuzzer target under fuzz/ (clang-16, ASan + UBSan, in build-fuzz/) and runs
# each for SECONDS (default 60) on its seed corpus and its regression inputs. Prints one line
# per target and ends with "fuzz: N targets, M crashes"; exits non-zero on any crash, leak,
# timeout or out-of-memory.
#   scripts/fuzz.sh [SECONDS]
# Environment:
#   FUZZ_JOBS     targets run at once (default: the number of cores)
#   FUZZ_TARGETS  space-separated subset of targets (default: all)
#   FUZZ_WORK     where grown corpora and findings go (default: build-fuzz/fuzz-work); a corpus
#                 grown there is reused by the next run, the checked-in seeds stay as they are
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -eq 0 ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS]  (a whole number of seconds per target, > 0)" >&2
  exit 2
fi
jobs=${FUZZ_JOBS:-$(nproc)}
build="$root/build-fuzz"
work=${FUZZ_WORK:-$build/fuzz-work}

targets=(${FUZZ_TARGETS:-})
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in fuzz/*_fuzz.cc; do
    targets+=("$(basename "$f" .cc)")
  done
fi

./scripts/setup.sh
CXX=clang++-16 cmake -S "$root" -B "$build" -G Ninja -DKEEL_FUZZ=ON -DKEEL_BUILD_BENCH=OFF >/dev/null
ninja -C "$build" "${targets[@]}"

# Runs one target; its whole log goes to $work/<target>.log and one summary line to
# $work/<target>.result ("ok ..." or "FAIL ...").
run_target() {
  local t=$1 bin="$build/fuzz/$1"
  local corpus="$work/corpus/$t" findings="$work/findings/$t" log="$work/$t.log"
  mkdir -p "$corpus" "$findings"
  rm -f "$findings"/*
  local dirs=("$corpus" "fuzz/corpus/$t")
  [[ -d fuzz/regressions/$t ]] && dirs+=("fuzz/regressions/$t")
  local extra=()
  [[ -f fuzz/dict/$t.dict ]] && extra+=("-dict=fuzz/dict/$t.dict")
  local rc=0
  # -timeout: one input running 10 s is a finding; -rss_limit_mb: so is 2 GiB of memory.
  # The first corpus directory receives the new inputs, so the checked-in seeds are not touched.
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/" "${extra[@]}" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  local execs rate cov artifacts
  execs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log" | tail -1)
  rate=$(awk '/stat::average_exec_per_sec/ {print $NF}' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  # A slow-unit file is only a note (an input over 10 s once, which the machine's load alone can
  # cause); a real timeout fails the run and leaves a timeout- file.
  artifacts=$(ls "$findings" 2>/dev/null | { grep -v '^slow-unit-' || true; } | head -3 | tr '\n' ' ')
  local summary="${seconds} s, ${execs:-?} execs (${rate:-?}/s), cov ${cov:-?}, corpus $(ls "$corpus" | wc -l)"
  if [[ $rc -ne 0 || -n $artifacts ]]; then
    local why
    why=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)[^(]*|runtime error:.*|SUMMARY: .*' "$log" || true)
    echo "FAIL $summary: ${why:-exit $rc} ${artifacts:+[$findings/$artifacts]} (log $log)" >"$work/$t.result"
  else
    echo "ok   $summary" >"$work/$t.result"
  fi
}

mkdir -p "$work"
running=0
for t in "${targets[@]}"; do
  if [[ ! -x $build/fuzz/$t ]]; then
    echo "fuzz: no target $t (fuzz/$t.cc)" >&2
    exit 2
  fi
  rm -f "$work/$t.result"
  run_target "$t" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

crashes=0
for t in "${targets[@]}"; do
  result=$(cat "$work/$t.result" 2>/dev/null || echo "FAIL no result (the run itself failed)")
  [[ $result == ok* ]] || crashes=$((crashes + 1))
  printf 'fuzz: %-24s %s\n' "$t" "$result"
done
echo "fuzz: ${#targets[@]} targets, $crashes crashes"
[[ $crashes -eq 0 ]]

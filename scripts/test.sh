#!/usr/bin/env bash
# Sets up, builds and runs every test: installs build dependencies and the pinned Tailscale
# clients, builds keel (build/), again under AddressSanitizer (build-asan/) and the DERP relay's
# tests under ThreadSanitizer (build-tsan/: the relay is the multi-threaded part), runs the
# sanitizer runs, fuzzes every parser for a minute each (scripts/fuzz.sh: clang, build-fuzz/;
# KEEL_FUZZ_SECONDS changes the minute), then the whole suite (unit + e2e) on the normal build. The last lines printed
# are ctest's own summary of that full run; the exit code is non-zero if any run failed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Tailscale releases the e2e tests run against; keep in sync with tests/e2e/CMakeLists.txt
# (KEEL_TS_VERSION, KEEL_TS_OLD_VERSION, and KEEL_TS_MATRIX, whose clients need no derper).
tailscale_versions=(1.102.3 1.80.3)
tailscale_matrix=(1.62.1 1.64.2 1.70.0 1.76.6 1.86.5 1.96.5)
# Headscale release the comparison test runs beside keel (tests/e2e/CMakeLists.txt
# KEEL_HEADSCALE_VERSION).
headscale_version=0.29.2
# OpenID Provider of the OIDC login tests (tests/e2e/CMakeLists.txt KEEL_OIDC_PROVIDER_VERSION).
oidc_provider_version=9.13.3

./scripts/setup.sh
for v in "${tailscale_versions[@]}"; do
  ./scripts/install-tailscale.sh "$v"
done
for v in "${tailscale_matrix[@]}"; do
  ./scripts/install-tailscale.sh --clients "$v"
done
./scripts/install-headscale.sh "$headscale_version"
./scripts/install-oidc-provider.sh "$oidc_provider_version"
# The metrics test reads /metrics with Prometheus' own text-format parser; the login tests drive
# Debian's chromium through its chromedriver with Selenium and check screenshots with Pillow.
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  prometheus-client==0.26.0 selenium==4.40.0 pillow==13.0.0
./scripts/build.sh
./scripts/build.sh --sanitize
./scripts/build.sh --tsan derp_test

jobs=$(nproc)
sanitizer_rc=0
(cd build-asan && ctest --output-on-failure --no-label-summary -L unit -j "$jobs") || sanitizer_rc=$?
if [[ $sanitizer_rc -ne 0 ]]; then
  echo "test: unit tests FAILED under AddressSanitizer (see above); running the full suite anyway"
fi
tsan_rc=0
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure --no-label-summary \
  -R '^derp_test$') || tsan_rc=$?
if [[ $tsan_rc -ne 0 ]]; then
  echo "test: derp_test FAILED under ThreadSanitizer (see above); running the full suite anyway"
  sanitizer_rc=$tsan_rc
fi

# Every fuzz target for a bounded time on its corpus and regression inputs (scripts/fuzz.sh).
fuzz_rc=0
./scripts/fuzz.sh "${KEEL_FUZZ_SECONDS:-60}" || fuzz_rc=$?
if [[ $fuzz_rc -ne 0 ]]; then
  echo "test: fuzzing found a crash, leak or timeout (see above); running the full suite anyway"
  sanitizer_rc=$fuzz_rc
fi

rc=0
(cd build && ctest --output-on-failure --no-label-summary -j "$jobs") || rc=$?
if [[ $rc -ne 0 ]]; then
  exit "$rc"
fi
exit "$sanitizer_rc"

#!/usr/bin/env bash
# Sets up, builds and runs every test: installs build dependencies and the pinned Tailscale
# clients, builds keel twice (build/ and build-asan/), runs the unit tests under
# AddressSanitizer, then the whole suite (unit + e2e) on the normal build. The last lines printed
# are ctest's own summary of that full run; the exit code is non-zero if either run failed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Tailscale releases the e2e tests run against; keep in sync with tests/e2e/CMakeLists.txt.
tailscale_versions=(1.102.3 1.80.3)

./scripts/setup.sh
for v in "${tailscale_versions[@]}"; do
  ./scripts/install-tailscale.sh "$v"
done
./scripts/build.sh
./scripts/build.sh --sanitize

jobs=$(nproc)
asan_rc=0
(cd build-asan && ctest --output-on-failure --no-label-summary -L unit -j "$jobs") || asan_rc=$?
if [[ $asan_rc -ne 0 ]]; then
  echo "test: unit tests FAILED under AddressSanitizer (see above); running the full suite anyway"
fi

rc=0
(cd build && ctest --output-on-failure --no-label-summary -j "$jobs") || rc=$?
if [[ $rc -ne 0 ]]; then
  exit "$rc"
fi
exit "$asan_rc"

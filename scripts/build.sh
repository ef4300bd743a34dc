#!/usr/bin/env bash
# Configures and builds keel with CMake + Ninja.
#   scripts/build.sh              -> build/       (RelWithDebInfo)
#   scripts/build.sh --sanitize   -> build-asan/  (AddressSanitizer + UBSan)
#   scripts/build.sh --tsan       -> build-tsan/  (ThreadSanitizer)
# Extra arguments after the options are passed to ninja (e.g. a target name).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

build_dir="$root/build"
cmake_args=()
ninja_args=()
for arg in "$@"; do
  case "$arg" in
    # Benchmarks are meaningless under the sanitizers, so that build skips them.
    --sanitize)
      build_dir="$root/build-asan"
      cmake_args+=(-DKEEL_SANITIZE=ON -DKEEL_BUILD_BENCH=OFF)
      ;;
    --tsan)
      build_dir="$root/build-tsan"
      cmake_args+=(-DKEEL_TSAN=ON -DKEEL_BUILD_BENCH=OFF)
      ;;
    *) ninja_args+=("$arg") ;;
  esac
done

cmake -S "$root" -B "$build_dir" -G Ninja "${cmake_args[@]}"
ninja -C "$build_dir" "${ninja_args[@]}"

#!/usr/bin/env bash
# Installs what keel needs to build and test on Debian 12 (bookworm). Idempotent: when every
# package is already installed it only checks and returns, so build and test scripts call it
# on every run. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-system1.81-dev
  libnghttp2-dev libsodium-dev nlohmann-json3-dev libzstd-dev libsqlite3-dev
  libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev prometheus-cpp-dev
  iproute2 util-linux openssl python3 zstd openssh-client curl
  chromium chromium-driver nodejs
  clang-16 libfuzzer-16-dev libclang-rt-16-dev
)

missing=()
for p in "${packages[@]}"; do
  # `dpkg -s` also reports packages that were removed but left config files; require "installed".
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

apt_updated=0
apt_install() {
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup: need root to install packages" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [[ $apt_updated -eq 0 ]]; then
    "${sudo[@]}" apt-get update
    apt_updated=1
  fi
  "${sudo[@]}" apt-get install -y --no-install-recommends "$@"
}

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup: installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

# npm installs the OpenID Provider of the OIDC login tests (scripts/install-oidc-provider.sh).
# Not in the list above: NodeSource's nodejs package, which some machines have instead of
# Debian's, ships npm itself and conflicts with Debian's npm package.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing npm"
  apt_install npm
fi

# Go builds the pinned Tailscale clients for the e2e tests (scripts/install-tailscale.sh). It is
# not a Debian package here: the Debian one is too old for current Tailscale releases.
if ! command -v go >/dev/null 2>&1 && [[ ! -x /usr/local/go/bin/go ]]; then
  echo "setup: warning: no Go toolchain (go or /usr/local/go/bin/go); e2e clients cannot be built" >&2
fi

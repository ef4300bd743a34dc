#!/usr/bin/env bash
# Installs pinned Tailscale binaries (tailscale, tailscaled, derper) for the e2e tests.
#   scripts/install-tailscale.sh VERSION             e.g. 1.102.3
#   scripts/install-tailscale.sh --clients VERSION   tailscale and tailscaled only (the
#                                                    release matrix needs no relay of theirs)
# Binaries land in ${KEEL_TOOLS_DIR:-$HOME/.cache/keel-tools}/tailscale-VERSION/ and are
# built from source with `go install`; a version that is already there is skipped.
set -euo pipefail

tools=(tailscale tailscaled derper)
if [[ "${1:-}" == "--clients" ]]; then
  tools=(tailscale tailscaled)
  shift
fi
if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 [--clients] VERSION" >&2
  exit 2
fi
version=${1#v}
tools_dir=${KEEL_TOOLS_DIR:-$HOME/.cache/keel-tools}
dest="$tools_dir/tailscale-$version"

have_all() {
  local t
  for t in "${tools[@]}"; do [[ -x "$dest/$t" ]] || return 1; done
}
if have_all; then
  echo "tailscale $version: already in $dest"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  export PATH="$PATH:/usr/local/go/bin"
fi
command -v go >/dev/null 2>&1 || { echo "go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }

echo "tailscale $version: building into $dest (takes a few minutes the first time)"
mkdir -p "$dest.tmp"
# Build into a temporary dir and rename, so an interrupted build never looks installed.
# GOFLAGS=-mod=mod is not needed: `go install pkg@version` builds outside any module.
pkgs=()
for t in "${tools[@]}"; do pkgs+=("tailscale.com/cmd/$t@v$version"); done
GOBIN="$dest.tmp" go install "${pkgs[@]}"
# Keep what an earlier, fuller install left (e.g. derper).
if [[ -d "$dest" ]]; then cp -n "$dest"/* "$dest.tmp"/ 2>/dev/null || true; fi
rm -rf "$dest"
mv "$dest.tmp" "$dest"
have_all || { echo "tailscale $version: install incomplete in $dest" >&2; exit 1; }
"$dest/tailscale" version | head -n 1

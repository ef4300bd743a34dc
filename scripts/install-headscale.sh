#!/usr/bin/env bash
# Builds a pinned Headscale for the tests that compare keel with it (e2e_headscale_api).
#   scripts/install-headscale.sh VERSION   e.g. 0.29.2
# The binary lands in ${KEEL_TOOLS_DIR:-$HOME/.cache/keel-tools}/headscale-VERSION/headscale; a
# version already there is skipped. `go install …@VERSION` is refused by the module proxy here
# (it reads the module's version list), so the module is downloaded and built in place.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 VERSION" >&2
  exit 2
fi
version=${1#v}
tools_dir=${KEEL_TOOLS_DIR:-$HOME/.cache/keel-tools}
dest="$tools_dir/headscale-$version"
if [[ -x "$dest/headscale" ]]; then
  echo "headscale $version: already in $dest"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  export PATH="$PATH:/usr/local/go/bin"
fi
command -v go >/dev/null 2>&1 || { echo "go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }

echo "headscale $version: building into $dest (takes a few minutes the first time)"
src=$(go mod download -json "github.com/juanfont/headscale@v$version" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
mkdir -p "$dest"
(cd "$src" && go build -o "$dest/headscale.tmp" ./cmd/headscale)
mv "$dest/headscale.tmp" "$dest/headscale"
# The sample config the config test starts keel on, unmodified.
cp "$src/config-example.yaml" "$dest/config-example.yaml"
"$dest/headscale" version | head -n 1

#!/usr/bin/env bash
# Installs a pinned oidc-provider (the npm package, a certified OpenID Provider for Node.js) for
# the OpenID Connect login tests, which run it as their identity provider
# (tests/e2e/oidc_provider.mjs).
#   scripts/install-oidc-provider.sh VERSION   e.g. 9.13.3
# The package and its dependencies land in
# ${KEEL_TOOLS_DIR:-$HOME/.cache/keel-tools}/oidc-provider-VERSION/node_modules; a version
# already there is skipped. Needs node (20.12 or later) and npm.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 VERSION" >&2
  exit 2
fi
version=${1#v}
tools_dir=${KEEL_TOOLS_DIR:-$HOME/.cache/keel-tools}
dest="$tools_dir/oidc-provider-$version"
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "$tool not found; scripts/setup.sh installs nodejs and npm" >&2
    exit 1
  }
done

# oidc-provider 9 hashes PKCE verifiers with crypto.hash, new in Node.js 20.12; Debian 12's own
# nodejs (18) does not have it.
node -e 'process.exit(typeof require("node:crypto").hash === "function" ? 0 : 1)' || {
  echo "node $(node --version) is too old for oidc-provider $version: need Node.js 20.12 or later" >&2
  exit 1
}

manifest="$dest/node_modules/oidc-provider/package.json"
installed_version() {
  node -e 'try { console.log(require(process.argv[1]).version) } catch { }' "$manifest"
}
if [[ -f "$manifest" && "$(installed_version)" == "$version" ]]; then
  echo "oidc-provider $version: already in $dest"
  exit 0
fi

echo "oidc-provider $version: installing into $dest"
mkdir -p "$dest"
# An exact version (no range), so npm resolves the same oidc-provider on every machine; "type":
# "module" because oidc-provider is ESM only, like the test's provider script.
cat >"$dest/package.json" <<EOF
{"private":true,"type":"module","dependencies":{"oidc-provider":"$version"}}
EOF
(cd "$dest" && npm install --no-audit --no-fund --omit=dev --loglevel=error)
got=$(installed_version)
if [[ "$got" != "$version" ]]; then
  echo "oidc-provider $version: npm installed '${got:-nothing}' in $dest" >&2
  exit 1
fi
echo "oidc-provider $got"

#!/usr/bin/env bash
# One command to run keel: installs build dependencies, builds, and starts `keel serve` on the
# defaults (SQLite under ./data, http://127.0.0.1:8080, admin socket data/keel.sock).
# Arguments go to keel, e.g. `scripts/serve.sh --config keel.yaml`; KEEL_CONFIG works too.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

"$root/scripts/setup.sh"
"$root/scripts/build.sh" keel
cd "$root"
exec ./build/src/cli/keel serve "$@"

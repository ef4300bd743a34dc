#!/usr/bin/env python3
"""Switching from Headscale: `keel import headscale`, and the clients go on without a login.

Headscale 0.29.2 runs with two v1.102.3 clients joined. It stops; `keel import headscale
--db ... --noise-key ...` runs (the source file is byte-for-byte unchanged after it), and keel
starts on Headscale's address. Both clients are Running again and see each other within 60 s
with the same addresses and names; no `tailscale up` runs again. Importing twice is refused,
and so is a database with a schema keel does not know.
"""

import hashlib
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402
from test_headscale_api import start_headscale  # noqa: E402

CLIENTS = (1, 2)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def self_view(h, n):
    st = h.status(n)
    me = st.get("Self") or {}
    peers = sorted((p.get("HostName"), tuple(sorted(p.get("TailscaleIPs") or [])))
                   for p in (st.get("Peer") or {}).values())
    return tuple(sorted(me.get("TailscaleIPs") or [])), peers


def test(h, args):
    hs, hs_proc = start_headscale(h, args.headscale)
    hs_dir = os.path.join(h.tmp, "headscale")
    step("two clients join Headscale")
    user = hs.call("POST", "/api/v1/user", {"name": "alice"})["user"]
    key = hs.call("POST", "/api/v1/preauthkey", {"user": user["id"], "reusable": True,
                                                  "expiration": "2200-01-01T00:00:00Z"})
    for n in CLIENTS:
        h.start_tailscaled(n)
        h.up(n, key["preAuthKey"]["key"], f"node{n}", login_server=hs.base)
    for n in CLIENTS:
        h.wait_running(n)
    wait_until(lambda: all(len(self_view(h, n)[1]) == 1 for n in CLIENTS), 30,
               "the clients to see each other through Headscale")
    before = {n: self_view(h, n) for n in CLIENTS}

    step("Headscale stops; keel imports its database and starts on its address")
    hs_proc.stop()
    db = os.path.join(hs_dir, "db.sqlite")
    noise = os.path.join(hs_dir, "noise_private.key")
    sums = {p: digest(p) for p in (db, noise)}
    h.keel_port = int(hs.base.rsplit(":", 1)[1])
    h.server_url = hs.base
    h.write_config()
    r = h.keel_cli("import", "headscale", "--db", db, "--noise-key", noise, "-o", "json",
                   json_out=False)
    step(f"import said: {r.strip()}")
    check(all(digest(p) == s for p, s in sums.items()), "the import changed Headscale's files")
    r = h.keel_cli("import", "headscale", "--db", db, "--noise-key", noise, check_rc=False)
    check(r.returncode != 0 and "already holds users or nodes" in r.stderr,
          f"a second import: {r.stderr!r}")
    h.start_keel()

    step("both clients are back, same addresses and names, no login")
    wait_until(lambda: all(h.backend_state(n) == "Running" and self_view(h, n) == before[n]
                           for n in CLIENTS), 60,
               "the clients to run on keel with the addresses and peers they had")
    nodes = h.nodes()
    check(sorted(nodes) == ["node1", "node2"], f"keel lists {sorted(nodes)}")
    wait_until(lambda: all(n["online"] for n in h.nodes().values()), 30, "keel to see both online")

    step("a schema keel does not know is refused")
    newer = os.path.join(h.tmp, "newer.sqlite")
    # A copy through SQLite (the source may still have a WAL beside it), read-only on the source.
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as src, sqlite3.connect(newer) as dst:
        src.backup(dst)
    with sqlite3.connect(newer) as c:
        c.execute("INSERT INTO migrations (id) VALUES ('209912312359-from-the-future')")
    r = subprocess.run([h.keel_bin, "--config", h.config_path, "import", "headscale", "--db",
                        newer], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "unknown to keel" in r.stderr, f"newer schema: {r.stderr!r}")


def add_args(parser):
    parser.add_argument("--headscale", required=True, help="path of the headscale binary")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__, add_args))

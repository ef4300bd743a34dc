#!/usr/bin/env python3
"""Every supported Tailscale release against one keel on its default configuration.

One client of each release in --versions joins with a pre-auth key beside a current client
(--ts-dir). Checks, for each old release: it reaches Running; it and the current client see each
other; it connects to keel's embedded DERP relay on the default self-signed certificate (releases
before v1.82 cannot check the certificate pin, so keel sends them the relay without it); and
`tailscale ping`, disco and TSMP, answers both ways. Every client relays only through DERP
(TS_DEBUG_ALWAYS_USE_DERP), so the disco pongs prove the relay works. Prints the matrix.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BASE_DOMAIN, check, step, wait_until  # noqa: E402

CURRENT = 0
RELAY_ONLY = {"TS_DEBUG_ALWAYS_USE_DERP": "1"}


def name(version):
    return "v" + version.replace(".", "-")


def ping(h, src, dst):
    ip = h.tailscale_ipv4(dst)
    out = []
    # Disco pings stay on the relay: without --until-direct=false they fail for want of a direct path.
    for mode in (["--until-direct=false", "--c", "2"], ["--tsmp", "--c", "10"]):
        r = h.tailscale(src, "ping", *mode, "--timeout", "5s", ip, timeout=90)
        ok = r.returncode == 0 and "pong from" in r.stdout and ("--tsmp" in mode or "via DERP" in r.stdout)
        check(ok, f"`tailscale ping {' '.join(mode)} {ip}` from client {src} failed or did not "
                  f"go through the relay (exit {r.returncode}): {r.stdout}{r.stderr}")
        out.append("tsmp" if "--tsmp" in mode else "disco")
    return out


def test(h, args):
    versions = [v for v in args.versions.split(",") if v]
    h.start_keel()
    h.create_user("alice")
    key = h.create_authkey("alice", "--reusable")
    h.start_tailscaled(CURRENT, env=RELAY_ONLY)
    h.up(CURRENT, key, "current")
    clients = {}
    for i, v in enumerate(versions, start=1):
        step(f"Tailscale {v} joins")
        h.start_tailscaled(i, env=RELAY_ONLY, ts_dir=os.path.join(args.ts_root, f"tailscale-{v}"))
        h.up(i, key, name(v))
        clients[i] = v
    for n in [CURRENT, *clients]:
        h.wait_running(n)
    rows = []
    for n, v in clients.items():
        want = f"{name(v)}.{BASE_DOMAIN}."
        wait_until(lambda: want in h.peer_dns_names(CURRENT), 30, f"the current client to see {v}")
        wait_until(lambda n=n: f"current.{BASE_DOMAIN}." in h.peer_dns_names(n), 30, f"{v} to see the current client")
        h.wait_derp_connected(n)
        ping(h, n, CURRENT)
        ping(h, CURRENT, n)
        rows.append(v)
    print("release   join  peers  ping (disco, tsmp) both ways  relay on defaults")
    for v in rows:
        print(f"{v:9} yes   yes    yes                         yes")


def add_args(parser):
    parser.add_argument("--ts-root", required=True, help="directory holding tailscale-VERSION/")
    parser.add_argument("--versions", required=True, help="comma-separated releases to run")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__, add_args))

#!/usr/bin/env python3
"""Every supported Tailscale release against one keel on its default configuration.

One client of each release in --versions joins with a pre-auth key beside a current client
(--ts-dir). Checks, for each old release: it reaches Running; it and the current client see each
other; it connects to keel's embedded DERP relay on the default self-signed certificate (releases
before v1.82 cannot check the certificate pin, so keel sends them the relay without it); and
`tailscale ping`, disco and TSMP, answers both ways. Every client relays only through DERP
(TS_DEBUG_ALWAYS_USE_DERP), so the disco pongs prove the relay works. Prints the matrix.
Last, keel restarts with capability_floor above the current client's version: a new client's
`tailscale up` prints keel's refusal, and keel logs it once however often the daemon retries.
"""

import os
import sys
import time

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
    refuse_below_floor(h, key)


def refuse_below_floor(h, key):
    step("keel restarts with capability_floor 143, above v1.102's 142")
    for n in list(h.clients):  # only the refused client may speak to keel from here on
        h.stop_tailscaled(n)
    h.extra_config = "capability_floor: 143\n"
    h.write_config()
    h.restart_keel()
    late = 99
    h.start_tailscaled(late)
    r = h.up(late, key, "too-old", check_rc=False, up_timeout="30s")
    want = ("backend error: keel: client capability version 142 (Tailscale v1.102) is too old; "
            "this server needs >= 143; please upgrade Tailscale")
    check(r.returncode != 0 and want in r.stderr,
          f"`tailscale up` below the floor should print {want!r}; exit {r.returncode}: {r.stdout}{r.stderr}")
    check("too-old" not in h.nodes(), "keel stored a node it refused")
    time.sleep(5)  # the daemon keeps retrying its login in the background
    with open(h.keel_proc.log_path, errors="replace") as f:
        refusals = sum("capability version 142" in line for line in f)
    check(refusals == 1, f"keel logged the refusal {refusals} times, want once")


def add_args(parser):
    parser.add_argument("--ts-root", required=True, help="directory holding tailscale-VERSION/")
    parser.add_argument("--versions", required=True, help="comma-separated releases to run")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__, add_args))

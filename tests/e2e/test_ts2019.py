#!/usr/bin/env python3
"""A real v1.62 client speaks TS2019 to keel, beside a current client on TS2021.

A proxy in front of keel hides its Noise key from GET /key, so v1.62.1 takes its legacy path:
NaCl-boxed register and map requests under /machine/<machine key>. Checks: it reaches Running,
keel's log shows the legacy protocol, both clients see each other and `tailscale ping` (disco
and TSMP) answers both ways. Then the proxy stops hiding the key and the old client restarts:
it now speaks TS2021 and keeps its node id and addresses.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402
from key_proxy import KeyProxy  # noqa: E402

NEW, OLD = 1, 2


def keel_log(h):
    with open(h.keel_proc.log_path, errors="replace") as f:
        return f.read()


def ping_both_ways(h, a, b):
    for src, dst in ((a, b), (b, a)):
        ip = h.tailscale_ipv4(dst)
        for mode in ([], ["--tsmp"]):
            r = h.tailscale(src, "ping", *mode, "--c", "10", "--timeout", "5s", ip, timeout=90)
            check(r.returncode == 0 and "pong from" in r.stdout,
                  f"`tailscale ping {' '.join(mode)} {ip}` from client {src} failed "
                  f"(exit {r.returncode}): {r.stdout}{r.stderr}")


def test(h, args):
    h.start_keel()
    proxy = KeyProxy(h.keel_port)
    h.create_user("alice")
    key = h.create_authkey("alice", "--reusable")
    h.start_tailscaled(NEW)
    h.up(NEW, key, "current")
    h.start_tailscaled(OLD, ts_dir=args.old_ts_dir)
    step("v1.62 client joins through the proxy that hides keel's Noise key")
    h.up(OLD, key, "legacy", login_server=proxy.url)
    for n in (NEW, OLD):
        h.wait_running(n)
    check(proxy.key_requests > 0, "the old client never asked the proxy for /key")
    log = keel_log(h)
    check("ts2019 register from" in log and "ts2019 map from" in log,
          "keel's log does not show TS2019 register and map requests")
    wait_until(lambda: h.peer_dns_names(NEW) == {f"legacy.{harness.BASE_DOMAIN}."},
               30, "the current client to see the legacy one")
    wait_until(lambda: h.peer_dns_names(OLD) == {f"current.{harness.BASE_DOMAIN}."},
               30, "the legacy client to see the current one")
    ping_both_ways(h, NEW, OLD)
    before = h.nodes()["legacy"]

    step("the proxy stops hiding the Noise key; the old client restarts on TS2021")
    proxy.strip = False
    legacy_lines = log.count("ts2019 map from")
    h.stop_tailscaled(OLD)
    h.start_tailscaled(OLD, ts_dir=args.old_ts_dir)
    h.wait_running(OLD)
    after = h.nodes()["legacy"]
    check(after["id"] == before["id"], f"node id changed from {before['id']} to {after['id']}")
    check(sorted(after["ipAddresses"]) == sorted(before["ipAddresses"]),
          f"addresses changed from {before['ipAddresses']} to {after['ipAddresses']}")
    check(keel_log(h).count("ts2019 map from") == legacy_lines,
          "the restarted client still used TS2019")
    ping_both_ways(h, NEW, OLD)
    proxy.close()


def add_args(parser):
    parser.add_argument("--old-ts-dir", required=True, help="directory holding v1.62's binaries")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__, add_args))

#!/usr/bin/env python3
"""Subnet routes, HA failover, auto-approval, exit nodes and ephemeral clean-up, with real
clients.

One keel (node.ephemeral.inactivity_timeout: 5s) and clients of user alice:
- r advertises 10.99.0.0/24. Client a (--accept-routes) does not get the route until
  `keel nodes approve-routes`; then r is the primary router in a's status and a reaches a TCP
  echo server at 10.99.0.1 (an address on lo, no route out) through r: the connection that
  reaches the server belongs to r's tailscaled, not a's.
- r2 advertises the same prefix and is approved; stopping r's tailscaled moves the primary
  route to r2 in a's status, and traffic flows again, now through r2.
- HA probing (node.routes.ha, 3 s / 2 s): r comes back and r2 keeps the route. r2's
  tailscaled is then frozen (SIGSTOP): its map stream stays open, but it stops answering
  keel's pings, so the route moves back to r and traffic flows through r. Thawed, r2 answers
  again and does not take the route back.
- A policy with autoApprovers approves 10.98.0.0/24 for r2 with no admin step.
- e advertises an exit node; once approved, `tailscale exit-node list` on a shows it and
  `tailscale set --exit-node` makes it a's active exit node.
- An ephemeral client whose tailscaled is killed disappears from peers after the timeout.
- Bad approvals (a bad CIDR, a route the node never advertised, an unknown node) fail with a
  clear error and change nothing.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402
from test_policy import echo_server, reaches  # noqa: E402

A, R, R2, E, X = 1, 2, 3, 4, 5
SUBNET, SUBNET_IP, SUBNET_PORT = "10.99.0.0/24", "10.99.0.1", 7070
AUTO_SUBNET = "10.98.0.0/24"
EPHEMERAL_TIMEOUT_S = 5
PROBE_INTERVAL_S, PROBE_TIMEOUT_S = 3, 2
AUTO_POLICY = """{
  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
  "autoApprovers": {"routes": {"%s": ["alice@"]}},
}""" % AUTO_SUBNET


def socket_owner_pid(local_port):
    """The pid of the process holding the IPv4 TCP socket bound to local_port, or None."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == local_port:
                inodes.add(fields[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return int(pid)
    return None


class ConnectionLog:
    """Which process opened each connection the subnet echo server accepted."""

    def __init__(self):
        self.pids = []

    def on_accept(self, peer):
        self.pids.append(socket_owner_pid(peer[1]))

    def reached_through(self, h, client, router):
        """True when `client` reaches the subnet server and the connection came from router."""
        before = len(self.pids)
        if not reaches(h, client, SUBNET_IP, SUBNET_PORT):
            return False
        new = self.pids[before:]
        check(new, "the echo answered but the server logged no connection")
        owner = new[-1]
        check(owner != h.clients[client].popen.pid,
              f"client {client} reached {SUBNET_IP} directly, not through a subnet router")
        return owner == h.clients[router].popen.pid


def peer_by_name(h, n, name):
    for p in (h.status(n).get("Peer") or {}).values():
        if p.get("DNSName", "").startswith(name + "."):
            return p
    return None


def primary_routes(h, n, name):
    p = peer_by_name(h, n, name)
    return set((p or {}).get("PrimaryRoutes") or [])


def node_id(h, name):
    return h.nodes()[name]["id"]


def routes_of(h, name):
    listing = h.keel_cli("nodes", "list-routes", json_out=True)
    for n in listing:
        if n["givenName"] == name:
            return n
    return None


def test_bad_approvals(h):
    step("bad approvals are refused and change nothing")
    rid = node_id(h, "r")
    before = h.keel_cli("nodes", "list-routes", json_out=True)
    cases = [
        (["-i", str(rid), "-r", "10.99.0.0/33"], "is not a prefix"),
        (["-i", str(rid), "-r", "10.99.0.7/24"], "did you mean 10.99.0.0/24"),
        (["-i", str(rid), "-r", "10.77.0.0/24"], "does not advertise 10.77.0.0/24"),
        (["-i", "9999", "-r", SUBNET], "node 9999 not found"),
    ]
    for args, want in cases:
        r = h.keel_cli("nodes", "approve-routes", *args, check_rc=False)
        check(r.returncode != 0, f"approve-routes {args} succeeded")
        check(want in r.stderr, f"approve-routes {args}: want {want!r} in {r.stderr!r}")
    after = h.keel_cli("nodes", "list-routes", json_out=True)
    check(before == after, f"a refused approval changed the routes:\n{before}\n{after}")


def test_ha_probe(h, log):
    step("r comes back: r2 keeps the primary route")
    h.start_tailscaled(R)
    h.wait_running(R)
    wait_until(lambda: h.nodes()["r"]["online"], 10, "keel to see r online again")
    time.sleep(2 * PROBE_INTERVAL_S)  # a few probe rounds, all answered: nothing moves
    check(primary_routes(h, A, "r2") == {SUBNET} and primary_routes(h, A, "r") == set(),
          "the primary route moved back to r, or moved although both routers answer")

    step("freeze r2's tailscaled: its stream stays open, the probe moves the route to r")
    r2 = h.clients[R2].popen
    start = time.monotonic()
    os.kill(r2.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: primary_routes(h, A, "r") == {SUBNET}, 2 * PROBE_INTERVAL_S +
                   PROBE_TIMEOUT_S + 10, "a to see r as primary once r2 stopped answering")
        step(f"a saw r as primary {time.monotonic() - start:.2f} s after r2 froze")
        check(h.nodes()["r2"]["online"], "keel took the frozen r2 for offline: the stream "
              "should still be open, so the probe is what moved the route")
        wait_until(lambda: log.reached_through(h, A, R), 20, f"a to reach {SUBNET_IP} through r")
    finally:
        os.kill(r2.pid, signal.SIGCONT)

    step("r2 answers again: r keeps the primary route")
    time.sleep(2 * PROBE_INTERVAL_S + PROBE_TIMEOUT_S)
    check(primary_routes(h, A, "r") == {SUBNET} and primary_routes(h, A, "r2") == set(),
          "the primary route moved back to r2 after it recovered")


def test(h, args):
    h.extra_config = (f"node:\n  ephemeral:\n    inactivity_timeout: {EPHEMERAL_TIMEOUT_S}s\n"
                      f"  routes:\n    ha:\n      probe_interval: {PROBE_INTERVAL_S}s\n"
                      f"      probe_timeout: {PROBE_TIMEOUT_S}s\n"
                      "policy:\n  mode: database\n")
    h.start_keel()
    r = harness._sh("ip", "addr", "add", f"{SUBNET_IP}/32", "dev", "lo")
    check(r.returncode == 0, f"cannot add {SUBNET_IP} to lo: {r.stderr.strip()}")
    log = ConnectionLog()
    echo_server(SUBNET_PORT, host=SUBNET_IP, on_accept=log.on_accept)

    h.create_user("alice")
    key = h.create_authkey("alice", "--reusable")
    h.join_all({A: key, R: key, R2: key, E: key}, {A: "a", R: "r", R2: "r2", E: "e"})
    check(h.tailscale(A, "set", "--accept-routes").returncode == 0, "a: set --accept-routes")

    step("r advertises a subnet: nothing takes effect before approval")
    check(h.tailscale(R, "set", f"--advertise-routes={SUBNET}").returncode == 0,
          "r: set --advertise-routes")
    wait_until(lambda: (routes_of(h, "r") or {}).get("availableRoutes") == [SUBNET], 10,
               "keel to list r's announced route")
    check(routes_of(h, "r")["approvedRoutes"] == [], "r's route approved without an admin")
    time.sleep(1)
    check(primary_routes(h, A, "r") == set(), "a sees r's route before it was approved")

    test_bad_approvals(h)

    step("approve r's route: a sees r as primary and reaches the subnet through r")
    h.keel_cli("nodes", "approve-routes", "-i", str(node_id(h, "r")), "-r", SUBNET)
    wait_until(lambda: primary_routes(h, A, "r") == {SUBNET}, 10, "a to see r's primary route")
    listed = routes_of(h, "r")
    check(listed["approvedRoutes"] == [SUBNET] and listed["subnetRoutes"] == [SUBNET],
          f"list-routes after approval: {listed}")
    wait_until(lambda: log.reached_through(h, A, R), 20, f"a to reach {SUBNET_IP} through r")

    step("r2 advertises the same prefix and is approved: r stays primary")
    check(h.tailscale(R2, "set", f"--advertise-routes={SUBNET}").returncode == 0,
          "r2: set --advertise-routes")
    wait_until(lambda: (routes_of(h, "r2") or {}).get("availableRoutes") == [SUBNET], 10,
               "keel to list r2's announced route")
    h.keel_cli("nodes", "approve-routes", "-i", str(node_id(h, "r2")), "-r", SUBNET)
    wait_until(lambda: routes_of(h, "r2")["approvedRoutes"] == [SUBNET], 10, "r2 approved")
    time.sleep(1)
    check(primary_routes(h, A, "r") == {SUBNET} and primary_routes(h, A, "r2") == set(),
          "the primary moved although r is still online")

    step("stop r's tailscaled: the primary route moves to r2 and traffic follows")
    start = time.monotonic()
    h.stop_tailscaled(R)
    wait_until(lambda: primary_routes(h, A, "r2") == {SUBNET}, 15, "a to see r2 as primary")
    step(f"a saw r2 as primary {time.monotonic() - start:.2f} s after r stopped")
    check(primary_routes(h, A, "r") == set(), "r is still primary after it went offline")
    wait_until(lambda: log.reached_through(h, A, R2), 20, f"a to reach {SUBNET_IP} through r2")

    test_ha_probe(h, log)

    step("autoApprovers approve r2's second route with no admin step")
    path = os.path.join(h.tmp, "policy.hujson")
    with open(path, "w") as f:
        f.write(AUTO_POLICY)
    h.keel_cli("policy", "set", "--file", path)
    check(h.tailscale(R2, "set", f"--advertise-routes={SUBNET},{AUTO_SUBNET}").returncode == 0,
          "r2: set --advertise-routes with the auto-approved subnet")
    # r serves SUBNET since the HA probe moved it; r2 alone announces AUTO_SUBNET.
    wait_until(lambda: primary_routes(h, A, "r2") == {AUTO_SUBNET}, 15,
               "a to see r2 serve the auto-approved route")
    listed = routes_of(h, "r2")
    check(AUTO_SUBNET in listed["approvedRoutes"], f"list-routes: {listed}")

    step("e advertises an exit node; approved, a lists it and uses it")
    check(h.tailscale(E, "set", "--advertise-exit-node").returncode == 0,
          "e: set --advertise-exit-node")
    wait_until(lambda: len((routes_of(h, "e") or {}).get("availableRoutes", [])) == 2, 10,
               "keel to list e's exit routes")
    out = h.tailscale(A, "exit-node", "list").stdout
    check("e." not in out, f"a lists e as an exit node before approval:\n{out}")
    h.keel_cli("nodes", "approve-routes", "-i", str(node_id(h, "e")), "-r", "0.0.0.0/0")
    check(routes_of(h, "e")["approvedRoutes"] == ["0.0.0.0/0", "::/0"],
          "approving 0.0.0.0/0 did not approve the exit node (both families)")
    wait_until(lambda: "e." in h.tailscale(A, "exit-node", "list").stdout, 15,
               "`tailscale exit-node list` on a to show e")
    e_ip = h.tailscale_ipv4(E)
    r = h.tailscale(A, "set", f"--exit-node={e_ip}")
    check(r.returncode == 0, f"set --exit-node: {r.stderr}")
    wait_until(lambda: (peer_by_name(h, A, "e") or {}).get("ExitNode") is True, 10,
               "a's status to show e as the active exit node")
    check(h.tailscale(A, "set", "--exit-node=").returncode == 0, "clearing the exit node")

    step("an ephemeral node whose tailscaled dies is removed after the inactivity timeout")
    h.start_tailscaled(X)
    h.up(X, h.create_authkey("alice", "--ephemeral"), "x")
    h.wait_running(X)
    wait_until(lambda: peer_by_name(h, A, "x") is not None, 10, "a to see x")
    start = time.monotonic()
    h.clients.pop(X).stop(signal.SIGKILL)
    wait_until(lambda: "x" not in h.nodes(), EPHEMERAL_TIMEOUT_S + 15,
               "keel to delete the dead ephemeral node")
    wait_until(lambda: peer_by_name(h, A, "x") is None, 5, "x to vanish from a's peers")
    gone = time.monotonic() - start
    step(f"x gone {gone:.1f} s after its tailscaled was killed (timeout {EPHEMERAL_TIMEOUT_S} s)")
    check(gone >= EPHEMERAL_TIMEOUT_S - 0.5, f"x was deleted after {gone:.1f} s, before the timeout")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

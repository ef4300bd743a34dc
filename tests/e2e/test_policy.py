#!/usr/bin/env python3
"""A policy set with `keel policy set` decides who may reach whom, for real Tailscale clients.

Three clients: a (user alice), b (user bob), t (tagged tag:x via a tagged pre-auth key). With
a policy allowing only alice -> bob:22: a reaches b:22 (data echoed back), not b:80; b does not
reach a:22; t sees no peers at all. A new policy (bob -> alice:80 only) flips the outcome within
5 s, and a node joining later is shown only to the nodes it may reach or be reached by.
TCP echo servers on 127.0.0.1:22 and :80 of the test namespace stand behind every client
(userspace-networking tailscaled forwards accepted connections to localhost).
"""

import os
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402

A, B, T, B2 = 1, 2, 3, 4
FLIP_S = 5

POLICY_1 = """{
  "tagOwners": {"tag:x": ["alice@"]},
  "acls": [{"action": "accept", "src": ["alice@"], "dst": ["bob@:22"]}],
}"""
POLICY_2 = """{
  "tagOwners": {"tag:x": ["alice@"]},
  "acls": [{"action": "accept", "src": ["bob@"], "dst": ["alice@:80"]}],
}"""


def echo_server(port, host="127.0.0.1", on_accept=None):
    """Echoes every TCP connection on host:port; on_accept(peer_address) sees each one first."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(16)

    def serve(conn):
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)

    def loop():
        while True:
            conn, peer = srv.accept()
            if on_accept:
                on_accept(peer)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def reaches(h, n, ip, port, timeout=4.0):
    """True when `tailscale nc` from client n to ip:port gets our bytes echoed back."""
    p = h.tailscale_popen(n, "nc", ip, str(port))
    try:
        p.stdin.write(b"keel-policy-ping\n")
        p.stdin.flush()
        deadline = time.time() + timeout
        got = b""
        while time.time() < deadline and b"keel-policy-ping" not in got:
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                got += chunk
        return b"keel-policy-ping" in got
    except BrokenPipeError:
        return False
    finally:
        p.kill()
        p.wait()


def set_policy(h, text):
    path = os.path.join(h.tmp, "policy.hujson")
    with open(path, "w") as f:
        f.write(text)
    h.keel_cli("policy", "set", "--file", path)


def test(h, args):
    h.write_config()
    with open(h.config_path, "a") as f:
        f.write("policy:\n  mode: database\n")
    h.start_keel()
    echo_server(22)
    echo_server(80)
    h.create_user("alice")
    h.create_user("bob")
    # A tagged key needs a policy whose tagOwners let alice apply tag:x.
    set_policy(h, POLICY_1)
    keys = {A: h.create_authkey("alice"), B: h.create_authkey("bob"),
            T: h.create_authkey("alice", "--tags", "tag:x")}
    ip = h.join_all(keys, {A: "a", B: "b", T: "t"})

    step("policy 1: alice -> bob:22 only")
    set_policy(h, POLICY_1)
    wait_until(lambda: h.peer_dns_names(T) == set(), 10, "client t to see no peers")
    wait_until(lambda: reaches(h, A, ip[B], 22), 20, "a to reach b:22")
    check(not reaches(h, A, ip[B], 80), "a reached b:80, which the policy does not allow")
    check(not reaches(h, B, ip[A], 22), "b reached a:22, which the policy does not allow")
    check(not reaches(h, B, ip[A], 80), "b reached a:80, which policy 1 does not allow")
    check(h.peer_dns_names(A) == {"b.%s." % harness.BASE_DOMAIN},
          f"client a should see only b, sees {h.peer_dns_names(A)}")

    step("policy 2: bob -> alice:80 only")
    start = time.time()
    set_policy(h, POLICY_2)
    wait_until(lambda: reaches(h, B, ip[A], 80, timeout=2.0), FLIP_S + 10,
               "b to reach a:80 after the policy change")
    step(f"b reached a:80 {time.time() - start:.2f} s after `keel policy set`")
    check(not reaches(h, A, ip[B], 22), "a still reaches b:22 after the policy change")
    check(h.peer_dns_names(T) == set(), "client t sees peers under policy 2")

    step("a second bob node joins under policy 2: only the nodes it may reach see it")
    h.start_tailscaled(B2)
    h.up(B2, h.create_authkey("bob"), "b2")
    h.wait_running(B2)
    dns = lambda name: f"{name}.{harness.BASE_DOMAIN}."  # noqa: E731
    wait_until(lambda: h.peer_dns_names(A) == {dns("b"), dns("b2")}, 10,
               "client a to see b and b2")
    wait_until(lambda: h.peer_dns_names(B2) == {dns("a")}, 10, "client b2 to see only a")
    check(h.peer_dns_names(T) == set(), "client t sees peers after b2 joined")
    check(h.peer_dns_names(B) == {dns("a")}, f"client b sees {h.peer_dns_names(B)}, want only a")
    wait_until(lambda: reaches(h, B2, ip[A], 80, timeout=2.0), 10, "b2 to reach a:80")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

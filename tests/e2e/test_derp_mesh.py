#!/usr/bin/env python3
"""Two keel relays meshed in one DERP region carry traffic between clients homed on different ones.

Setup: keel "control" serves only a DERP map file (its own relay off) whose region 999 lists two
nodes, relay1 then relay2: two more keel processes used only as relays (verify_clients off, as
they have no nodes of their own), sharing one mesh_key and each naming the other in mesh_with.
Their self-signed certificates are pinned in the map (CertName "sha256-raw:..." read from the
live relay). Clients use the first node of their home region they can reach, so to home the
clients on different relays: with relay1 down, both clients join and land on relay2; then relay1
starts and only client 1's tailscaled restarts, landing on relay1.

Checks: both relays log "derp mesh: connected to" the other; relay1 logs client 1's node key
connected and not client 2's, relay2 the reverse (after the restart); with
TS_DEBUG_ALWAYS_USE_DERP=1, `tailscale ping` both ways says "via DERP(keel)" (only possible if
the relays forward to each other), and a 10 MiB transfer each way keeps its SHA-256.
"""

import hashlib
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_derp  # noqa: E402
from harness import BASE_DOMAIN, DERP_REGION, check, free_port, step, wait_until  # noqa: E402

MESH_KEY = "5e" * 32


class MeshRelay:
    """A keel process used only for its embedded DERP relay."""

    def __init__(self, h, name):
        self.h, self.name = h, name
        self.dir = os.path.join(h.tmp, name)
        os.makedirs(self.dir)
        self.http_port = free_port()
        self.derp_port = free_port()
        self.stun_port = free_port(socket.SOCK_DGRAM)
        self.config_path = os.path.join(self.dir, "config.yaml")
        self.proc = None
        self.mark = 0  # log lines before this index belong to an earlier run

    def start_mark(self):
        self.mark = len(self.proc.tail(10**6)) if self.proc else 0

    def url(self):
        return f"https://127.0.0.1:{self.derp_port}/derp"

    def write_config(self, peer):
        derp = harness.embedded_derp_yaml(self.dir, self.derp_port, self.stun_port, f"""\
    verify_clients: false
    mesh_key: {MESH_KEY}
    mesh_with:
      - {peer.url()}
""")
        with open(self.config_path, "w") as f:
            f.write(harness.keel_config_yaml(self.dir, self.http_port, derp))

    def start(self):
        self.start_mark()
        self.proc = self.h._start(self.name, [self.h.keel_bin, "--config", self.config_path,
                                              "serve"], env=self.h._env(self.name))
        probe = f"https://127.0.0.1:{self.derp_port}/derp/probe"
        wait_until(lambda: self.h._expect_alive(self.proc) and harness.http_get(probe)[0] == 200,
                   30, f"{self.name} to answer /derp/probe")

    def stop(self):
        self.proc.stop()

    def pin(self):
        """"sha256-raw:<hex>" of the certificate the relay presents."""
        raw = socket.create_connection(("127.0.0.1", self.derp_port), timeout=5)
        with harness.insecure_tls_context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
            der = s.getpeercert(binary_form=True)
        return "sha256-raw:" + hashlib.sha256(der).hexdigest()

    def log_lines(self):
        return self.proc.tail(10**6)

    def connected_keys(self):
        """Node keys (hex) this relay logged as connected clients."""
        keys = set()
        for line in self.log_lines():
            m = re.search(r"nodekey:([0-9a-f]{64}) connected", line)
            if m:
                keys.add(m.group(1))
        return keys

    def meshed_with(self, peer):
        """Whether this run of the relay (not an earlier one) logged a mesh link to peer; a
        later drop would be logged as "redialing"."""
        up = False
        for line in self.log_lines()[self.mark:]:
            if f"derp mesh: connected to {peer.url()}" in line:
                up = True
            elif f"derp mesh: {peer.url()}:" in line:
                up = False
        return up


def write_derp_map(h, relays, pins):
    path = os.path.join(h.tmp, "derp-mesh.yaml")
    nodes = ""
    for suffix, relay in zip("ab", relays):
        nodes += f"""      - name: {DERP_REGION}{suffix}
        regionid: {DERP_REGION}
        hostname: 127.0.0.1
        ipv4: 127.0.0.1
        stunport: {relay.stun_port}
        derpport: {relay.derp_port}
        certname: {pins[relay.name]}
"""
    with open(path, "w") as f:
        f.write(f"""regions:
  {DERP_REGION}:
    regionid: {DERP_REGION}
    regioncode: keel
    regionname: keel mesh
    nodes:
{nodes}""")
    return path


def node_key(h, n):
    key = (h.status(n).get("Self") or {}).get("PublicKey", "")
    check(key.startswith("nodekey:"), f"client {n} reports no node key: {key!r}")
    return key[len("nodekey:"):]


def test(h, args):
    relay1, relay2 = MeshRelay(h, "relay1"), MeshRelay(h, "relay2")
    relay1.write_config(relay2)
    relay2.write_config(relay1)
    step("learning both relays' certificate pins")
    pins = {}
    for relay in (relay1, relay2):
        relay.start()
        pins[relay.name] = relay.pin()
    relay1.stop()  # down while the clients join, so they home on relay2
    h.derp_map_file = write_derp_map(h, (relay1, relay2), pins)

    h.start_keel()
    h.join_pair("erin", env=test_derp.DERP_ONLY)
    k1, k2 = node_key(h, 1), node_key(h, 2)
    for n, k in ((1, k1), (2, k2)):
        wait_until(lambda k=k: k in relay2.connected_keys(), 30,
                   f"client {n} to connect to relay2 while relay1 is down")

    step("relay1 starts; the relays mesh; client 1's tailscaled restarts")
    relay2.start_mark()  # relay1 is down: any later link to it is to the new run
    relay1.start()
    check(relay1.pin() == pins["relay1"], "relay1 came back with a different certificate")
    wait_until(lambda: relay1.meshed_with(relay2) and relay2.meshed_with(relay1), 60,
               "relay1 and relay2 to log a mesh connection to each other")
    h.stop_tailscaled(1)
    h.start_tailscaled(1, env=test_derp.DERP_ONLY)
    h.wait_running(1)
    wait_until(lambda: k1 in relay1.connected_keys(), 30, "client 1 to connect to relay1")
    check(k2 not in relay1.connected_keys(), "client 2 connected to relay1 as well")
    ip1, ip2 = h.tailscale_ipv4(1), h.tailscale_ipv4(2)

    step("ping across the mesh both ways")
    wait_until(lambda: test_derp.ping_via_derp(h, 1, ip2), 60,
               f"client 1 (relay1) to ping client 2 (relay2) {test_derp.VIA_DERP}", interval=1)
    print(test_derp.ping_via_derp(h, 2, ip1), flush=True)

    server = test_derp.TransferServer()
    try:
        test_derp.transfer(h, server, ip2)
    finally:
        server.close()
    check(k2 not in relay1.connected_keys(), "client 2 moved to relay1 during the test")
    check(k1 in relay1.connected_keys() and k2 in relay2.connected_keys(),
          "the clients are not on different relays")
    check(relay1.meshed_with(relay2) and relay2.meshed_with(relay1), "a mesh link went down")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

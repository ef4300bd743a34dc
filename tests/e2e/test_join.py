#!/usr/bin/env python3
"""Three real Tailscale clients join keel with one reusable pre-auth key.

Checks: every client reaches Running; keel's /metrics (read with Prometheus' parser) counts the
nodes, registrations, handshakes, map responses and relay clients the join made; its addresses are the ones keel lists for it; each sees the
other two as peers under their MagicDNS names; each connects to keel's embedded DERP relay (the
client logs "derp-999 connected": its TLS check of the relay passed). Unless --join-only: deleting a node removes it from
the others' peer lists within 5 s; after a keel restart the clients come back with the same
addresses and peers, keel reports them online, and a rename made after the restart reaches them.
"""

import ipaddress
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BASE_DOMAIN, check, step, wait_until  # noqa: E402

CLIENTS = (1, 2, 3)
DELETE_PROPAGATION_S = 5


def hostname(n):
    return f"node{n}"


def fqdn(name):
    return f"{name}.{BASE_DOMAIN}."


def normalize_ips(ips):
    """Address strings as a set; tolerates "/32"-style suffixes and IPv6 spelling differences."""
    return {str(ipaddress.ip_address(ip.split("/")[0])) for ip in ips or []}


def join(h, clients):
    h.start_keel()
    h.before_join = h.metrics()
    h.create_user("alice")
    key = h.create_authkey("alice", "--reusable")
    for n in clients:
        h.start_tailscaled(n)
    for n in clients:
        step(f"client {n}: tailscale up as {hostname(n)}")
        h.up(n, key, hostname(n))
    for n in clients:
        h.wait_running(n)


def check_metrics(h, before, joined):
    """keel's /metrics parse, and the counters moved as the clients joined."""
    step("/metrics: the counters moved as the clients joined")
    after = h.metrics()

    def value(samples, name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))), 0)

    def grew(name, by=1, **labels):
        old, new = value(before, name, **labels), value(after, name, **labels)
        check(new >= old + by, f"{name}{labels} went from {old} to {new}, wanted +{by}")

    check(value(before, "keel_nodes", state="registered") == 0, "nodes before anyone joined")
    check(value(after, "keel_nodes", state="registered") == joined, "keel_nodes after the join")
    wait_until(lambda: value(h.metrics(), "keel_nodes", state="online") == joined, 10,
               "keel_nodes{state=online} to count every client")
    grew("keel_registrations_total", joined, outcome="authorized")
    grew("keel_noise_handshakes_total", joined, result="ok")
    grew("keel_map_responses_total", joined)
    grew("keel_map_response_bytes_total", 1000)
    grew("keel_store_transaction_seconds_count", joined)
    check(value(after, "keel_map_streams") >= joined, "keel_map_streams after the join")
    check(value(after, "keel_derp_clients") >= 1, "no client on the embedded relay")
    check(("keel_policy_compile_seconds_count", ()) in after, "no policy compile metric")
    check(("keel_derp_packets_total", (("kind", "received"),)) in after, "no relay packet metric")


def check_addresses(h, clients):
    """Each client's own addresses equal keel's; returns {n: addresses}."""
    nodes = h.nodes()
    addresses = {}
    for n in clients:
        check(hostname(n) in nodes, f"keel does not list {hostname(n)}: {sorted(nodes)}")
        me = h.status(n).get("Self") or {}
        mine = normalize_ips(me.get("TailscaleIPs"))
        keels = normalize_ips(nodes[hostname(n)].get("ipAddresses"))
        check(mine, f"client {n} has no Tailscale addresses")
        check(mine == keels, f"client {n} has {sorted(mine)}, keel lists {sorted(keels)}")
        check(me.get("DNSName") == fqdn(hostname(n)),
              f"client {n} calls itself {me.get('DNSName')!r}, want {fqdn(hostname(n))!r}")
        addresses[n] = mine
    return addresses


def wait_peers(h, names, timeout=30):
    """names: {client n: its current node name}. Each client must see exactly the others."""
    for n in names:
        want = {fqdn(names[m]) for m in names if m != n}
        wait_until(lambda n=n, want=want: h.peer_dns_names(n) == want, timeout,
                   f"client {n} to see exactly the peers {sorted(want)}")


def wait_online(h, names, timeout):
    def all_online():
        nodes = h.nodes()
        return all(nodes.get(name, {}).get("online") is True for name in names)
    wait_until(all_online, timeout, f"keel to report {sorted(names)} online")


def delete_node(h, n, survivors):
    node_id = h.nodes()[hostname(n)]["id"]
    step(f"deleting {hostname(n)} (id {node_id})")
    h.keel_cli("nodes", "delete", "-i", str(node_id), "--force")
    deleted_at = time.monotonic()
    # Kill the deleted client at once so it cannot come back and blur what the others see.
    h.clients[n].stop(signal.SIGKILL)
    h.clients.pop(n)
    for m in survivors:
        want = {fqdn(hostname(o)) for o in survivors if o != m}
        left = DELETE_PROPAGATION_S - (time.monotonic() - deleted_at)
        wait_until(lambda m=m, want=want: h.peer_dns_names(m) == want, max(left, 0.1),
                   f"client {m} to drop {hostname(n)} within {DELETE_PROPAGATION_S}s of the "
                   f"delete (peers should be {sorted(want)})")
    check(hostname(n) not in h.nodes(), f"keel still lists {hostname(n)} after deleting it")


def restart(h, survivors, addresses):
    step("restarting keel")
    h.restart_keel()
    wait_online(h, [hostname(n) for n in survivors], timeout=120)
    for n in survivors:
        h.wait_running(n)
    after = check_addresses(h, survivors)
    for n in survivors:
        check(after[n] == addresses[n],
              f"client {n} had {sorted(addresses[n])} before the restart, {sorted(after[n])} after")
    wait_peers(h, {n: hostname(n) for n in survivors})


def rename(h, n, new_name, survivors):
    node_id = h.nodes()[hostname(n)]["id"]
    step(f"renaming {hostname(n)} to {new_name}")
    h.keel_cli("nodes", "rename", "-i", str(node_id), new_name)
    names = {m: hostname(m) for m in survivors}
    names[n] = new_name
    wait_peers(h, names)
    check(new_name in h.nodes(), f"keel does not list the renamed node {new_name}")


def test(h, args):
    join(h, CLIENTS)
    addresses = check_addresses(h, CLIENTS)
    wait_peers(h, {n: hostname(n) for n in CLIENTS})
    for n in CLIENTS:
        h.wait_derp_connected(n)
    check_metrics(h, h.before_join, len(CLIENTS))
    if args.join_only:
        return
    wait_online(h, [hostname(n) for n in CLIENTS], timeout=30)
    survivors = (1, 2)
    delete_node(h, 3, survivors)
    restart(h, survivors, addresses)
    rename(h, 2, "node2b", survivors)


def add_args(parser):
    parser.add_argument("--join-only", action="store_true",
                        help="stop after the clients joined and see each other")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0], add_args))

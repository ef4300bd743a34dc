#!/usr/bin/env python3
"""Node lifecycle with real clients: node.expiry, `nodes expire --expiry/--disable`,
`users rename`, `preauthkeys delete`, and online state pushed to peers.

- With node.expiry: 48h, a new node's key expiry (its own status) is about 48 h ahead.
- `keel nodes expire -i ID --expiry T` moves it to T; `--disable` removes it; both reach the
  client's status. A bad time fails with a clear error and changes nothing.
- `keel users rename` changes the login name peers see for that user's nodes.
- `keel preauthkeys delete -i ID` removes the key; the node it registered stays Running.
- Stopping a client's tailscaled shows it offline, with a LastSeen, in its peer's status.
"""

import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402

A, B = 1, 2


def key_expiry(h, n):
    """The client's own key expiry as a datetime, or None when it never expires."""
    text = (h.status(n).get("Self") or {}).get("KeyExpiry")
    if not text or text.startswith("0001-"):
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def peer(h, n, name):
    for p in (h.status(n).get("Peer") or {}).values():
        if p.get("DNSName", "").startswith(name + "."):
            return p
    return None


def test(h, args):
    h.extra_config = "node:\n  expiry: 48h\n"
    h.start_keel()
    h.create_user("alice")
    h.create_user("bob")
    ip = h.join_all({A: h.create_authkey("alice"), B: h.create_authkey("bob")}, {A: "a", B: "b"})

    step("node.expiry: a new node expires about 48 h from now")
    now = datetime.datetime.now(datetime.timezone.utc)
    exp = key_expiry(h, A)
    check(exp is not None, "a has no key expiry although node.expiry is 48h")
    hours = (exp - now).total_seconds() / 3600
    check(47 < hours < 49, f"a's key expires in {hours:.1f} h, want about 48")

    aid = str(h.nodes()["a"]["id"])
    step("nodes expire --expiry moves it, --disable removes it")
    when = (now + datetime.timedelta(days=10)).replace(microsecond=0)
    h.keel_cli("nodes", "expire", "-i", aid, "--expiry", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    wait_until(lambda: key_expiry(h, A) == when, 10, f"a's key expiry to become {when}")
    r = h.keel_cli("nodes", "expire", "-i", aid, "--expiry", "tomorrow", check_rc=False)
    check(r.returncode != 0 and "RFC 3339" in r.stderr, f"a bad --expiry: {r.stderr!r}")
    check(key_expiry(h, A) == when, "a refused --expiry changed the expiry")
    h.keel_cli("nodes", "expire", "-i", aid, "--disable")
    wait_until(lambda: key_expiry(h, A) is None, 10, "a's key expiry to go away")
    check(h.backend_state(A) == "Running", "a stopped running after --disable")

    step("users rename: peers see the new login name")
    bob_id = next(u["id"] for u in h.keel_cli("users", "list", json_out=True) if u["name"] == "bob")
    h.keel_cli("users", "rename", "-i", str(bob_id), "-r", "robert")

    # The client takes the new profile incrementally: who-is (what it reports for connections
    # from b) shows it; `tailscale status` lists profiles from its last full netmap only.
    def login_of_b():
        r = h.tailscale(A, "whois", "--json", ip[B], timeout=20)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout).get("UserProfile", {}).get("LoginName")

    wait_until(lambda: login_of_b() == "robert", 10, "a's whois of b to say robert")
    r = h.keel_cli("users", "rename", "-n", "robert", "-r", "alice", check_rc=False)
    check(r.returncode != 0 and "already exists" in r.stderr, f"rename onto alice: {r.stderr!r}")

    step("preauthkeys delete: the key goes, the node it registered stays")
    keys = h.keel_cli("preauthkeys", "list", json_out=True)
    kid = str(next(k["id"] for k in keys if (k["user"] or {}).get("name") == "alice"))
    h.keel_cli("preauthkeys", "delete", "-i", kid)
    check(all(str(k["id"]) != kid for k in h.keel_cli("preauthkeys", "list", json_out=True)),
          "the deleted key is still listed")
    r = h.keel_cli("preauthkeys", "delete", "-i", kid, check_rc=False)
    check(r.returncode != 0 and "not found" in r.stderr, f"deleting twice: {r.stderr!r}")
    check(h.backend_state(A) == "Running" and "a" in h.nodes(), "a lost its registration")

    step("a peer going offline is pushed with its last-seen time")
    wait_until(lambda: (peer(h, A, "b") or {}).get("Online") is True, 10, "a to see b online")
    h.stop_tailscaled(B)
    wait_until(lambda: (peer(h, A, "b") or {}).get("Online") is False, 10, "a to see b offline")
    check((peer(h, A, "b") or {}).get("LastSeen", "").startswith("20"),
          f"no LastSeen for b: {peer(h, A, 'b')}")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

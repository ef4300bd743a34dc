#!/usr/bin/env python3
"""Tags with real clients: --advertise-tags checked against tagOwners, and `keel nodes tag`
changing live what peers see and what the policy allows.

Policy: tagOwners let alice apply tag:web and tag:other; alice may reach tag:web on port 80.
- bob's `tailscale up --advertise-tags=tag:web` is refused with Tailscale's message, and a
  tagged key for bob cannot be created; alice's node w advertising tag:web joins tagged.
- Client a (alice) reaches w:80. `keel nodes tag -i w -t tag:other` takes that away (w leaves
  a's peers); tagging w with tag:web again gives it back; bad tags change nothing.
- A tagged node belongs to no user: a's status and `tailscale whois` show w owned by
  tagged-devices, and `keel nodes list` too.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402
from test_policy import echo_server, reaches  # noqa: E402

A, W, B = 1, 2, 3
POLICY = """{
  "tagOwners": {"tag:web": ["alice@"], "tag:other": ["alice@"]},
  "acls": [{"action": "accept", "src": ["alice@"], "dst": ["tag:web:80"]}],
}"""


def up_with_tags(h, n, key, hostname, tags):
    return h.tailscale(n, "up", f"--login-server={h.server_url}", f"--auth-key={key}",
                       f"--hostname={hostname}", f"--advertise-tags={tags}", "--timeout=20s",
                       watch_services=True)


def self_tags(h, n):
    return (h.status(n).get("Self") or {}).get("Tags") or []


def test(h, args):
    h.extra_config = "policy:\n  mode: database\n"
    h.start_keel()
    echo_server(80)
    h.create_user("alice")
    h.create_user("bob")
    path = os.path.join(h.tmp, "policy.hujson")
    with open(path, "w") as f:
        f.write(POLICY)
    h.keel_cli("policy", "set", "--file", path)

    step("bob may not apply tag:web: his --advertise-tags and a tagged key are refused")
    r = h.keel_cli("preauthkeys", "create", "--user", "bob", "--tags", "tag:web", check_rc=False)
    check(r.returncode != 0 and "may not apply tag:web" in r.stderr,
          f"a tagged key for bob: exit {r.returncode}, {r.stderr!r}")
    check(h.keel_cli("preauthkeys", "list", json_out=True) == [], "a refused key was stored")
    h.start_tailscaled(B)
    r = up_with_tags(h, B, h.create_authkey("bob"), "b", "tag:web")
    check(r.returncode != 0, "bob's tailscale up --advertise-tags=tag:web succeeded")
    want = "requested tags [tag:web] are invalid or not permitted"
    check(want in r.stdout + r.stderr, f"tailscale up did not show {want!r}: {r.stderr!r}")
    check(h.nodes() == {}, f"a refused registration stored a node: {h.nodes()}")

    step("alice's w advertises tag:web and joins tagged")
    h.start_tailscaled(W)
    r = up_with_tags(h, W, h.create_authkey("alice"), "w", "tag:web")
    check(r.returncode == 0, f"alice's tailscale up --advertise-tags: {r.stderr}")
    h.wait_running(W)
    check(self_tags(h, W) == ["tag:web"], f"w's tags: {self_tags(h, W)}")
    check(h.nodes()["w"]["tags"] == ["tag:web"], "keel does not list w's tag")
    ip = h.join_all({A: h.create_authkey("alice")}, {A: "a"})
    ip[W] = h.tailscale_ipv4(W)
    wait_until(lambda: reaches(h, A, ip[W], 80), 20, "a to reach w:80 (tag:web)")

    step("w belongs to tagged-devices, not alice, in a's eyes and keel's")
    st = h.status(A)
    peer = next(p for p in st["Peer"].values() if p["DNSName"].startswith("w."))
    owner = st["User"][str(peer["UserID"])]
    check(owner["LoginName"] == "tagged-devices", f"w's owner in a's status: {owner}")
    whois = h.tailscale(A, "whois", "--json", ip[W])
    check(whois.returncode == 0, f"whois w: {whois.stderr}")
    login = json.loads(whois.stdout)["UserProfile"]["LoginName"]
    check(login == "tagged-devices", f"whois w says it belongs to {login}")
    check(h.nodes()["w"]["user"]["name"] == "tagged-devices",
          f"keel lists w as {h.nodes()['w']['user']}")

    step("keel nodes tag: tag:other takes the access away, live")
    wid = str(h.nodes()["w"]["id"])
    h.keel_cli("nodes", "tag", "-i", wid, "-t", "tag:other")
    wait_until(lambda: self_tags(h, W) == ["tag:other"], 10, "w to see its new tag")
    wait_until(lambda: h.peer_dns_names(A) == set(), 10, "w to leave a's peers")
    check(not reaches(h, A, ip[W], 80, timeout=2.0), "a still reaches w:80 as tag:other")

    step("bad tags are refused and change nothing")
    for tags, want in (("tag:nope", "invalid or not permitted"), ("web", "invalid or not permitted")):
        r = h.keel_cli("nodes", "tag", "-i", wid, "-t", tags, check_rc=False)
        check(r.returncode != 0 and want in r.stderr, f"nodes tag -t {tags}: {r.stderr!r}")
    r = h.keel_cli("nodes", "tag", "-i", "9999", "-t", "tag:web", check_rc=False)
    check(r.returncode != 0 and "not found" in r.stderr, f"unknown node: {r.stderr!r}")
    check(h.nodes()["w"]["tags"] == ["tag:other"], "a refused tag change was applied")

    step("tagging w with tag:web again gives the access back")
    h.keel_cli("nodes", "tag", "-i", wid, "-t", "tag:web")
    wait_until(lambda: reaches(h, A, ip[W], 80, timeout=2.0), 15, "a to reach w:80 again")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

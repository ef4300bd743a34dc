#!/usr/bin/env python3
"""keel's REST API beside Headscale's: the same calls, the same JSON shapes.

Headscale v0.29.2 and keel run side by side, each with one real client joined and announcing
a route. The same sequence of /api/v1 calls goes to both over TCP with an API key: users
(create, list, rename, delete), pre-auth keys (create, list, expire, delete), nodes (list, get,
rename, approve routes, expire), API keys (create, list, expire, delete), health. Each answer's
*shape* (field names, JSON types, wrappers; not values) must match Headscale's. A null matches
any type and an empty list matches any list (protobuf's JSON writes unset times as null). A
difference fails the test unless headscale_api_allowlist.json lists its path with a reason.

The API keys are checked too: no key, a wrong key and an expired key get 401 from keel, and no
key ever appears in keel's log.
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402

KEEL_CLIENT, HS_CLIENT = 1, 2
ROUTE = "10.44.0.0/24"
ALLOWLIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "headscale_api_allowlist.json")


def headscale_config(d, port, metrics_port, grpc_port, derp_file):
    return f"""server_url: http://127.0.0.1:{port}
listen_addr: 127.0.0.1:{port}
metrics_listen_addr: 127.0.0.1:{metrics_port}
grpc_listen_addr: 127.0.0.1:{grpc_port}
noise:
  private_key_path: {d}/noise_private.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
derp:
  server:
    enabled: false
  urls: []
  paths: [{derp_file}]
  auto_update_enabled: false
disable_check_updates: true
database:
  type: sqlite
  sqlite:
    path: {d}/db.sqlite
unix_socket: {d}/headscale.sock
log:
  level: info
dns:
  magic_dns: true
  base_domain: hs.internal
  override_local_dns: false
logtail:
  enabled: false
policy:
  mode: database
"""


class Api:
    """One server's REST API over TCP with an API key."""

    def __init__(self, name, base, key):
        self.name, self.base, self.key = name, base, key

    def call(self, method, path, body=None, key=None, want=200):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        token = self.key if key is None else key
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        check(status == want, f"{self.name}: {method} {path} answered {status}, wanted {want}: {text}")
        try:
            return json.loads(text) if text else None
        except json.JSONDecodeError:
            return text


def shape(value):
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if value is None:
        return None
    return type(value).__name__


def differences(path, theirs, ours):
    """Paths where `ours` has another shape than `theirs` (None and [] match anything)."""
    if theirs is None or ours is None or theirs == [] or ours == []:
        return []
    if isinstance(theirs, dict) and isinstance(ours, dict):
        out = []
        for k in sorted(set(theirs) | set(ours)):
            if k not in ours:
                out.append(f"{path}.{k}: missing in keel")
            elif k not in theirs:
                out.append(f"{path}.{k}: only in keel")
            else:
                out += differences(f"{path}.{k}", theirs[k], ours[k])
        return out
    if isinstance(theirs, list) and isinstance(ours, list):
        return differences(path + "[]", theirs[0], ours[0])
    return [] if theirs == ours else [f"{path}: Headscale {theirs}, keel {ours}"]


def start_headscale(h, hs_bin):
    d = os.path.join(h.tmp, "headscale")
    os.makedirs(d)
    port, metrics, grpc = harness.free_port(), harness.free_port(), harness.free_port()
    # A DERP map the clients can read; nothing here needs the relay itself.
    derp_file = os.path.join(d, "derp.yaml")
    with open(derp_file, "w") as f:
        f.write(f"regions:\n  900:\n    regionid: 900\n    regioncode: keel\n    regionname: keel\n"
                f"    nodes:\n      - name: 900a\n        regionid: 900\n        hostname: 127.0.0.1\n"
                f"        ipv4: 127.0.0.1\n        stunport: -1\n        derpport: {h.derp_port}\n"
                f"        insecurefortests: true\n")
    config = os.path.join(d, "config.yaml")
    with open(config, "w") as f:
        f.write(headscale_config(d, port, metrics, grpc, derp_file))
    proc = h._start("headscale", [hs_bin, "-c", config, "serve"])
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: proc.alive() and harness.http_get(url + "/health")[0] == 200, 30,
               "Headscale to answer /health")
    r = subprocess.run([hs_bin, "-c", config, "apikeys", "create", "-e", "1h"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"headscale apikeys create: {r.stderr}")
    return Api("headscale", url, r.stdout.strip().splitlines()[-1]), proc


def join(h, n, api, user_id, name):
    key = api.call("POST", "/api/v1/preauthkey",
                   {"user": user_id, "reusable": True, "expiration": "2200-01-01T00:00:00Z"})
    h.start_tailscaled(n)
    r = h.tailscale(n, "up", f"--login-server={api.base}", f"--auth-key={key['preAuthKey']['key']}",
                    f"--hostname={name}", f"--advertise-routes={ROUTE}", "--timeout=60s")
    check(r.returncode == 0, f"client {n} up against {api.name}: {r.stderr}")
    h.wait_running(n)
    wait_until(lambda: api.call("GET", "/api/v1/node")["nodes"] and
               api.call("GET", "/api/v1/node")["nodes"][0]["availableRoutes"] == [ROUTE], 30,
               f"{api.name} to list client {n} with its route")


def sequence(api):
    """The calls, in order; returns [(label, answer)]. Each server gets its own ids."""
    out = []

    def do(label, method, path, body=None):
        out.append((label, api.call(method, path, body)))
        return out[-1][1]

    alice = do("create user", "POST", "/api/v1/user",
               {"name": "alice", "displayName": "Alice", "email": "alice@example.com"})["user"]
    bob = do("create user 2", "POST", "/api/v1/user", {"name": "bob"})["user"]
    do("list users", "GET", "/api/v1/user")
    do("list users by name", "GET", "/api/v1/user?name=bob")
    do("rename user", "POST", f"/api/v1/user/{bob['id']}/rename/robert")
    return out, alice, bob


def sequence_after_join(api, bob):
    out = []

    def do(label, method, path, body=None):
        out.append((label, api.call(method, path, body)))
        return out[-1][1]

    key = do("create key", "POST", "/api/v1/preauthkey",
             {"user": bob["id"], "reusable": False, "ephemeral": True,
              "expiration": "2200-01-01T00:00:00Z", "aclTags": []})["preAuthKey"]
    do("list keys", "GET", "/api/v1/preauthkey")
    do("expire key", "POST", "/api/v1/preauthkey/expire", {"id": key["id"]})
    do("delete key", "DELETE", f"/api/v1/preauthkey?id={key['id']}")
    nodes = do("list nodes", "GET", "/api/v1/node")["nodes"]
    nid = nodes[0]["id"]
    do("get node", "GET", f"/api/v1/node/{nid}")
    do("rename node", "POST", f"/api/v1/node/{nid}/rename/renamed")
    do("approve routes", "POST", f"/api/v1/node/{nid}/approve_routes", {"routes": [ROUTE]})
    do("list nodes after approval", "GET", "/api/v1/node")
    do("expire node at", "POST", f"/api/v1/node/{nid}/expire?expiry=2200-01-01T00:00:00Z")
    do("create API key", "POST", "/api/v1/apikey", {"expiration": "2200-01-01T00:00:00Z"})
    keys = do("list API keys", "GET", "/api/v1/apikey")["apiKeys"]
    newest = max(keys, key=lambda k: int(k["id"]))
    do("expire API key", "POST", "/api/v1/apikey/expire", {"prefix": newest["prefix"]})
    do("delete API key", "DELETE", f"/api/v1/apikey/{newest['prefix']}")
    do("delete user", "DELETE", f"/api/v1/user/{bob['id']}")
    do("health", "GET", "/api/v1/health")
    return out


def compare(hs_answers, keel_answers, allowed):
    check(len(hs_answers) == len(keel_answers), "the two sequences differ in length")
    # Guard against a vacuous pass: Headscale's node must be a full object on both sides.
    hs_node = dict(hs_answers)["get node"]["node"]
    check(len(hs_node) >= 15 and isinstance(hs_node.get("user"), dict),
          f"Headscale's node answer is not what this test expects: {hs_node}")
    if os.environ.get("KEEL_E2E_DUMP"):
        with open(os.environ["KEEL_E2E_DUMP"], "w") as f:
            json.dump({"headscale": hs_answers, "keel": keel_answers}, f, indent=1)
    problems = []
    seen = set()
    for (label, theirs), (_, ours) in zip(hs_answers, keel_answers):
        for d in differences(label, shape(theirs), shape(ours)):
            path = d.split(":")[0]
            seen.add(path)
            if path in allowed:
                step(f"allowed: {d} ({allowed[path]})")
            else:
                problems.append(d)
    stale = sorted(set(allowed) - seen)
    check(not stale, f"allowlist entries that no longer differ (remove them): {stale}")
    check(not problems, "keel's REST shapes differ from Headscale's:\n  " + "\n  ".join(problems))


def check_keys(h, keel):
    step("API keys: none, a wrong one and an expired one are refused")
    keel.call("GET", "/api/v1/user", key="", want=401)
    keel.call("GET", "/api/v1/user", key=keel.key[:-1] + ("0" if keel.key[-1] != "0" else "1"),
              want=401)
    short = keel.call("POST", "/api/v1/apikey", {"expiration": "2200-01-01T00:00:00Z"})["apiKey"]
    keel.call("GET", "/api/v1/user", key=short)
    prefix = "keel-api-" + short.split("-")[2] + "-***"
    keel.call("POST", "/api/v1/apikey/expire", {"prefix": prefix})
    expired = keel.call("GET", "/api/v1/user", key=short, want=401)
    check(expired.get("detail") == "API key expired", f"expired key: {expired}")
    with open(os.path.join(h.tmp, "keel.log")) as f:
        log = f.read()
    for secret in (keel.key, short, short.split("-")[-1]):
        check(secret not in log, "an API key appears in keel's log")


def test(h, args):
    h.start_keel()
    r = h.keel_cli("apikeys", "create", "-e", "1h")
    keel = Api("keel", h.server_url, r.strip().splitlines()[-1])
    hs, hs_proc = start_headscale(h, args.headscale)

    step("users, on both")
    hs_first, hs_alice, hs_bob = sequence(hs)
    keel_first, keel_alice, keel_bob = sequence(keel)
    step("a client joins each, announcing a route")
    join(h, HS_CLIENT, hs, hs_alice["id"], "hsnode")
    join(h, KEEL_CLIENT, keel, keel_alice["id"], "keelnode")
    step("keys, nodes, routes, API keys, on both")
    hs_rest = sequence_after_join(hs, hs_bob)
    keel_rest = sequence_after_join(keel, keel_bob)
    with open(ALLOWLIST) as f:
        allowed = json.load(f)
    compare(hs_first + hs_rest, keel_first + keel_rest, allowed)
    check(hs_proc.alive(), "Headscale died")
    check_keys(h, keel)


def add_args(parser):
    parser.add_argument("--headscale", required=True, help="path of the headscale binary")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__, add_args))

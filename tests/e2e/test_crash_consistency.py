#!/usr/bin/env python3
"""Crash consistency: keel never loses an acknowledged write and never shows a half-applied one.

Kill storm (--part storm): keel on SQLite under a join-and-change storm, killed with SIGKILL
at random points (seeded; the seed is printed, --seed repeats a run) and restarted on the same
database, again and again. The storm, from threads of this script:
  - waves of simulated nodes joining (bench/loadgen on Tailscale's own ts2021 transport, with
    -ack-log: "reg <nodekey>" once a registration is answered as authorized, "addr <nodekey>
    <ips>" once its map stream gives it addresses), each wave a user of its own;
  - admin writes over the REST API: users, pre-auth keys, node renames, and the policy set
    (PUT /api/v1/policy) alternately to two shapes, each text unique.
A write is acknowledged once its 2xx answer (or loadgen's line) is in; each is journaled.
While keel is down the database is read directly (sqlite3, read-only): PRAGMA integrity_check
and foreign_key_check, every acknowledged write present, the policy and every renamed node's
name the last acknowledged one or a later attempt, addresses as the node was told them, and
no half-applied state (shared addresses, nodes without keys or user, duplicate names, a
single-use key used twice or used without being marked). After every restart the API must
list every acknowledged user, key and node. At the end every loadgen wave converged (its
nodes got their map streams back after the kills) and two real tailscaled clients that lived
through every kill are Running and see each other.

Disk full (--part disk-full): keel's state on a 4 MiB tmpfs in a private mount namespace,
filled to ENOSPC. Admin writes and registrations fail with an answer naming the full disk
(and keel logs it), reads and a connected client's map stream carry on, and once the filler
is gone writes work again.
"""

import ctypes
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import TestFailure, check, step, wait_until  # noqa: E402

KILLS = 30
WAVE_NODES = 6
WAVE_THREADS = 2
TS_USER = "ts"

# Both shapes give every user's devices each other and nothing else (autogroup:self), so a
# loadgen wave converges on exactly its own nodes whichever is in force; "hosts" carries the
# attempt's number, so every text set is distinct and the one stored tells which attempt won.
RULE = {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"]}
EXTRA_RULE = {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:22"]}


def policy_text(seq):
    acls = [RULE] if seq % 2 == 0 else [RULE, EXTRA_RULE]
    return json.dumps({"hosts": {f"attempt-{seq}": f"100.100.{seq // 250}.{seq % 250 + 1}/32"},
                       "acls": acls})


class Unacknowledged(Exception):
    """No 2xx answer: the write may or may not have landed. `answered`: an HTTP error status
    came back (not a connection refused, reset or cut off)."""

    def __init__(self, msg, answered):
        super().__init__(msg)
        self.answered = answered


class Api:
    def __init__(self, base, key):
        self.base, self.key = base, key

    def call(self, method, path, body=None, timeout=5.0):
        """The decoded 2xx answer; raises Unacknowledged for anything else."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise Unacknowledged(f"{method} {path}: {e.code} {e.read()[:300]!r}", True) from None
        except (OSError, ValueError) as e:  # refused, reset, timed out, cut short
            raise Unacknowledged(f"{method} {path}: {type(e).__name__}: {e}", False) from None

    def status(self, method, path, body=None):
        """(status, text) of any answer; raises on a transport failure."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


class Journal:
    """What the storm attempted and what keel acknowledged."""

    def __init__(self):
        self.lock = threading.Lock()
        self.users = {}  # name -> id, acknowledged
        self.keys = {}  # id -> (user id, reusable), acknowledged
        self.renames = {}  # node id -> [(name, acknowledged)], in order (one writer)
        self.policies = []  # [(text, acknowledged)], in order (one writer)
        self.attempts = 0
        self.unacknowledged = 0

    def snapshot(self):
        with self.lock:
            return (dict(self.users), dict(self.keys),
                    {k: list(v) for k, v in self.renames.items()}, list(self.policies))


def allowed_after_last_ack(attempts):
    """The values a field may hold: the last acknowledged one or any attempted after it;
    None when nothing was acknowledged (anything attempted, or the original, may be there)."""
    last = max((i for i, (_, acked) in enumerate(attempts) if acked), default=None)
    return None if last is None else {v for v, _ in attempts[last:]}


class Storm:
    """The writer threads; they run until stop is set, whether keel is up or not."""

    def __init__(self, h, api, args, rng):
        self.h, self.api, self.args = h, api, args
        self.journal = Journal()
        self.stop = threading.Event()
        self.rng = random.Random(rng.random())
        self.threads = []
        self.errors = []
        self.wave_results = []  # (wave, rc, results json or None, output tail)
        self.reads_cut_off = []  # check_api reads keel closed without an answer
        self.ack_dir = os.path.join(h.tmp, "acks")
        os.makedirs(self.ack_dir)
        self.wave_counter = 0
        self.counter_lock = threading.Lock()

    def start(self):
        for fn in (self.users_and_keys, self.renames, self.policies):
            self.threads.append(threading.Thread(target=self._guard, args=(fn,), daemon=True))
        for _ in range(WAVE_THREADS):
            self.threads.append(threading.Thread(target=self._guard, args=(self.waves,),
                                                 daemon=True))
        for t in self.threads:
            t.start()

    def finish(self, timeout):
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        check(not any(t.is_alive() for t in self.threads), "storm threads did not finish")
        check(not self.errors, f"storm threads failed: {self.errors}")

    def _guard(self, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - reported by finish()
            self.errors.append(f"{fn.__name__}: {type(e).__name__}: {e}")

    def _attempt(self, fn):
        """fn() -> answer, or None when unacknowledged (after a short pause)."""
        with self.journal.lock:
            self.journal.attempts += 1
        try:
            return fn()
        except Unacknowledged:
            with self.journal.lock:
                self.journal.unacknowledged += 1
            time.sleep(0.05)
            return None

    def create_user(self, name):
        user = self._attempt(lambda: self.api.call("POST", "/api/v1/user", {"name": name}))
        if user is None:
            return None
        uid = str(user["user"]["id"])
        with self.journal.lock:
            self.journal.users[name] = uid
        return uid

    def create_key(self, uid, reusable):
        key = self._attempt(lambda: self.api.call(
            "POST", "/api/v1/preauthkey",
            {"user": uid, "reusable": reusable, "expiration": "2200-01-01T00:00:00Z"}))
        if key is None:
            return None
        k = key["preAuthKey"]
        with self.journal.lock:
            self.journal.keys[str(k["id"])] = (uid, reusable)
        return k["key"]

    def users_and_keys(self):
        n = 0
        while not self.stop.is_set():
            n += 1
            self.create_user(f"storm-{n}")
            with self.journal.lock:
                users = list(self.journal.users.values())
            if users:
                self.create_key(self.rng.choice(users), self.rng.random() < 0.5)
            time.sleep(0.05)

    def renames(self):
        nodes, seq = [], 0
        while not self.stop.is_set():
            if not nodes or self.rng.random() < 0.1:
                listing = self._attempt(lambda: self.api.call("GET", "/api/v1/node"))
                if listing is not None:
                    nodes = [n["id"] for n in listing["nodes"]
                             if not n["givenName"].startswith("tsnode")]
                if not nodes:
                    time.sleep(0.1)
                    continue
            nid = str(self.rng.choice(nodes))
            seq += 1
            name = f"rn-{seq}"
            with self.journal.lock:
                self.journal.renames.setdefault(nid, []).append([name, False])
            ok = self._attempt(lambda: self.api.call("POST", f"/api/v1/node/{nid}/rename/{name}"))
            if ok is not None:
                with self.journal.lock:
                    self.journal.renames[nid][-1][1] = True
            time.sleep(0.03)

    def policies(self):
        seq = 0
        while not self.stop.is_set():
            seq += 1
            text = policy_text(seq)
            with self.journal.lock:
                self.journal.policies.append([text, False])
            ok = self._attempt(lambda: self.api.call("PUT", "/api/v1/policy", {"policy": text}))
            if ok is not None:
                check(ok.get("policy") == text, f"PUT policy answered another text: {ok}")
                with self.journal.lock:
                    self.journal.policies[-1][1] = True
            time.sleep(0.1)

    def waves(self):
        while not self.stop.is_set():
            with self.counter_lock:
                self.wave_counter += 1
                w = self.wave_counter
            uid = None
            while uid is None and not self.stop.is_set():
                uid = self.create_user(f"wave-{w}")
            key = None
            while key is None and uid is not None and not self.stop.is_set():
                key = self.create_key(uid, True)
            if key is None:
                return
            self.run_wave(w, key)
            time.sleep(0.5)

    def run_wave(self, w, key):
        ack = os.path.join(self.ack_dir, f"wave-{w}.log")
        out = os.path.join(self.ack_dir, f"wave-{w}.json")
        # A loadgen started while keel is down cannot fetch its Noise key and exits at once,
        # having registered nothing: start it again.
        while True:
            r = subprocess.run(
                [self.args.loadgen, "-url", self.h.server_url, "-nodes", str(WAVE_NODES),
                 "-concurrency", "2", "-authkey", key, "-changes", "0", "-timeout", "120s",
                 "-register-attempts", "1000", "-ack-log", ack, "-json", out,
                 "-label", f"wave-{w}"],
                capture_output=True, text=True, timeout=200, preexec_fn=harness._die_with_parent)
            if os.path.exists(out) or os.path.exists(ack) or "/key?v=" not in r.stdout + r.stderr:
                break
            time.sleep(0.2)
        results = None
        if os.path.exists(out):
            with open(out) as f:
                results = json.load(f)
        self.wave_results.append((w, r.returncode, results, (r.stdout + r.stderr)[-1500:]))

    def acked_nodes(self):
        """{nodekey hex: [ips] or None} from every wave's acknowledgement log."""
        nodes = {}
        for name in sorted(os.listdir(self.ack_dir)):
            if not name.endswith(".log"):
                continue
            with open(os.path.join(self.ack_dir, name)) as f:
                for line in f:
                    if not line.endswith("\n"):
                        continue  # being written
                    fields = line.split()
                    hexkey = fields[1].removeprefix("nodekey:")
                    if fields[0] == "reg":
                        nodes.setdefault(hexkey, None)
                    elif fields[0] == "addr":
                        nodes[hexkey] = fields[2:]
        return nodes


# --- checks -----------------------------------------------------------------------------------

def check_database(path, storm):
    """Reads the database of a keel that is down; returns the counts checked."""
    users, keys, renames, policies = storm.journal.snapshot()
    nodes_acked = storm.acked_nodes()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        q = lambda sql, *a: db.execute(sql, a).fetchall()  # noqa: E731
        integrity = q("PRAGMA integrity_check")
        check(integrity == [("ok",)], f"integrity_check: {integrity}")
        fk = q("PRAGMA foreign_key_check")
        check(fk == [], f"foreign_key_check: {fk}")

        db_users = dict(q("SELECT name, CAST(id AS TEXT) FROM users"))
        for name, uid in users.items():
            check(db_users.get(name) == uid,
                  f"acknowledged user {name} (id {uid}) lost: database has {db_users.get(name)}")

        db_keys = {str(i): (str(u), bool(r), used) for i, u, r, used in
                   q("SELECT id, user_id, reusable, used FROM pre_auth_keys")}
        user_ids = set(db_users.values())
        for kid, (uid, reusable) in keys.items():
            check(kid in db_keys, f"acknowledged pre-auth key {kid} lost")
            check(db_keys[kid][:2] == (uid, reusable),
                  f"pre-auth key {kid} is {db_keys[kid]}, was acknowledged as {(uid, reusable)}")
        for kid, (uid, _, _) in db_keys.items():
            check(uid in user_ids, f"pre-auth key {kid} belongs to missing user {uid}")

        rows = q("SELECT id, hex(node_key), length(node_key), length(machine_key), user_id, "
                 "given_name, ipv4, ipv6, auth_key_id FROM nodes")
        by_key = {}
        names, v4s, v6s = set(), set(), set()
        for nid, hexkey, nk_len, mk_len, uid, given, v4, v6, key_id in rows:
            by_key[hexkey.lower()] = (str(nid), given, v4, v6)
            check(nk_len == 32 and mk_len == 32, f"node {nid} has a key of the wrong size")
            check(str(uid) in user_ids, f"node {nid} belongs to missing user {uid}")
            check(given and given not in names, f"node {nid}: given name {given!r} empty or shared")
            check(v4 and v6, f"node {nid} lacks an address ({v4}, {v6})")
            check(v4 not in v4s and v6 not in v6s, f"node {nid}: address {v4}/{v6} shared")
            check(key_id is None or str(key_id) in db_keys,
                  f"node {nid} names missing pre-auth key {key_id}")
            names.add(given)
            v4s.add(v4)
            v6s.add(v6)
        uses = {}
        for *_, key_id in rows:
            if key_id is not None:
                uses[str(key_id)] = uses.get(str(key_id), 0) + 1
        for kid, n in uses.items():
            _, reusable, used = db_keys[kid]
            check(used, f"pre-auth key {kid} registered {n} node(s) but is not marked used")
            check(reusable or n == 1, f"single-use pre-auth key {kid} registered {n} nodes")

        for hexkey, ips in nodes_acked.items():
            check(hexkey in by_key, f"acknowledged registration of nodekey:{hexkey} lost")
            if ips:
                _, _, v4, v6 = by_key[hexkey]
                check(sorted(ips) == sorted([v4, v6]),
                      f"nodekey:{hexkey} was given {ips}, the database has {v4}, {v6}")

        given_by_id = {nid: given for nid, given, _, _ in by_key.values()}
        renames_checked = 0
        for nid, attempts in renames.items():
            allowed = allowed_after_last_ack(attempts)
            if allowed is None:
                continue
            renames_checked += 1
            check(given_by_id.get(nid) in allowed,
                  f"node {nid} is named {given_by_id.get(nid)!r}; the last acknowledged rename "
                  f"and later attempts allow only {sorted(allowed)}")

        allowed = allowed_after_last_ack(policies)
        if allowed is not None:
            stored = q("SELECT value FROM settings WHERE key = 'policy'")
            check(stored and stored[0][0] in allowed,
                  f"stored policy {stored[:1]} is neither the last acknowledged nor a later one")
        return {"users": len(users), "keys": len(keys), "nodes": len(nodes_acked),
                "renames": renames_checked, "policy": allowed is not None}
    finally:
        db.close()


def read(api, storm, path):
    """GET path; a connection closed without an answer is tried again (and counted: the
    summary reports it), a 4xx/5xx fails at once."""
    for attempt in range(3):
        try:
            return api.call("GET", path)
        except Unacknowledged as e:
            if attempt == 2 or e.answered:
                raise TestFailure(f"API read after a restart: {e}") from None
            storm.reads_cut_off.append(str(e))
            step(f"API read cut off without an answer, trying again: {e}")
            time.sleep(0.5)


def check_api(api, storm):
    """After a restart: the API lists every acknowledged user, key and node."""
    users, keys, _, _ = storm.journal.snapshot()
    nodes_acked = storm.acked_nodes()
    listed = {u["name"]: str(u["id"]) for u in read(api, storm, "/api/v1/user")["users"]}
    for name, uid in users.items():
        check(listed.get(name) == uid, f"API: acknowledged user {name} missing after restart")
    listed_keys = {str(k["id"]) for k in read(api, storm, "/api/v1/preauthkey")["preAuthKeys"]}
    missing = set(keys) - listed_keys
    check(not missing, f"API: acknowledged pre-auth keys missing after restart: {sorted(missing)}")
    listed_nodes = {n["nodeKey"].removeprefix("nodekey:") for n in
                    read(api, storm, "/api/v1/node")["nodes"]}
    missing = set(nodes_acked) - listed_nodes
    check(not missing, f"API: acknowledged nodes missing after restart: {sorted(missing)[:5]}")
    policy = read(api, storm, "/api/v1/policy")["policy"]
    check(policy.startswith('{"hosts": {"attempt-'), f"API: unexpected policy {policy[:80]!r}")


def sigkill(h):
    """Kills keel with SIGKILL; fails if it had exited on its own (a crash, e.g. on start)."""
    popen = h.keel_proc.popen
    check(popen.poll() is None, f"keel exited on its own ({popen.returncode}) before the kill")
    popen.send_signal(signal.SIGKILL)
    popen.wait(10)
    h.keel_proc.stop()


def start_and_wait(h, timeout=30):
    h.start_keel()
    wait_until(lambda: h._expect_alive(h.keel_proc) and h.health() == 200, timeout,
               "keel to answer /health after a restart")


# --- kill storm -------------------------------------------------------------------------------

def kill_storm(h, args):
    check(args.loadgen and os.access(args.loadgen, os.X_OK),
          f"--loadgen {args.loadgen}: not an executable (cd bench/loadgen && go build)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    step(f"kill storm: seed {seed} (repeat with --seed {seed})")
    rng = random.Random(seed)
    h.extra_config += "policy:\n  mode: database\n"
    h.start_keel()
    api = Api(h.server_url, h.keel_cli("apikeys", "create", "-e", "1h").strip().splitlines()[-1])
    api.call("PUT", "/api/v1/policy", {"policy": policy_text(0)})
    step("two tailscaled clients join; they live through every kill")
    h.create_user(TS_USER)
    ts_key = h.create_authkey(TS_USER, "--reusable")
    for n in (1, 2):
        h.start_tailscaled(n)
        h.up(n, ts_key, f"tsnode{n}")
    for n in (1, 2):
        h.wait_running(n)

    storm = Storm(h, api, args, rng)
    storm.start()
    db_path = os.path.join(h.keel_dir, "db.sqlite")
    started = time.monotonic()
    for kill in range(1, args.kills + 1):
        # Mostly kill a serving keel under load; every fifth time while it starts instead.
        during_start = kill % 5 == 0
        time.sleep(rng.uniform(0.0, 0.3) if during_start else rng.uniform(0.2, 2.0))
        sigkill(h)
        counts = check_database(db_path, storm)
        if during_start or kill == args.kills:
            step(f"kill {kill}: database consistent; acknowledged so far: {counts}")
        if (kill + 1) % 5 == 0 and kill < args.kills:
            h.start_keel()  # the next kill lands while it starts
        else:
            start_and_wait(h)
            check_api(api, storm)
    storm_seconds = time.monotonic() - started

    step("storm over: the writers stop, every wave must converge")
    storm.finish(timeout=150)
    check_api(api, storm)
    # One last look at the database with keel down, then keel back for the clients.
    sigkill(h)
    final = check_database(db_path, storm)
    start_and_wait(h)
    j = storm.journal
    waves = sorted(storm.wave_results)
    bad = [(w, rc, tail) for w, rc, res, tail in waves if rc != 0 or not res or not res["converged"]]
    check(not bad, f"loadgen waves that did not converge: {bad[:2]}")
    reconnects = sum(res["reconnects"] for _, _, res, _ in waves)
    check(reconnects > 0, "no loadgen map stream ever reconnected: the kills missed the waves")
    for n in (1, 2):
        h.wait_running(n, timeout=90)
    wait_until(lambda: h.peer_dns_names(1) == {f"tsnode2.{harness.BASE_DOMAIN}."}
               and h.peer_dns_names(2) == {f"tsnode1.{harness.BASE_DOMAIN}."}, 60,
               "the tailscaled clients to see each other after the storm")
    wait_until(lambda: all(n["online"] for n in api.call("GET", "/api/v1/node")["nodes"]
                           if n["givenName"].startswith("tsnode")), 60,
               "keel to list both tailscaled clients online")
    step(f"kill storm: {args.kills} kills in {storm_seconds:.0f}s (seed {seed}); "
         f"{j.attempts} admin writes attempted, {j.unacknowledged} unacknowledged; "
         f"checked acknowledged: {final['users']} users, {final['keys']} keys, "
         f"{final['nodes']} registrations, {final['renames']} renamed nodes, policy; "
         f"{len(waves)} loadgen waves converged ({reconnects} stream reconnects); "
         f"{len(storm.reads_cut_off)} API reads cut off without an answer and retried")


# --- disk full --------------------------------------------------------------------------------

CLONE_NEWNS = 0x00020000


def enter_private_mounts():
    """A mount namespace of our own, so the tmpfs is seen by nobody else (needs a process
    with one thread: call before starting any)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise TestFailure(f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}")
    r = subprocess.run(["mount", "--make-rprivate", "/"], capture_output=True, text=True)
    check(r.returncode == 0, f"mount --make-rprivate /: {r.stderr}")


def fill(path):
    """Writes `path` until the file system is full; returns the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk)
            except OSError as e:
                check(e.errno == 28, f"filling {path}: {e}")
                break
        for size in (4096, 512, 1):  # the last partial blocks too
            while True:
                try:
                    written += f.write(chunk[:size])
                except OSError:
                    break
    return written


def says_full(text):
    return "disk is full" in text and "no space left" in text


def disk_full(h, args):
    enter_private_mounts()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", h.keel_dir],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"mount tmpfs: {r.stderr}")
    try:
        disk_full_on_tmpfs(h, args)
    finally:
        for proc in h.procs:  # nothing may keep the tmpfs busy

            proc.stop(grace=5.0)
        subprocess.run(["umount", "-l", h.keel_dir], capture_output=True)


def disk_full_on_tmpfs(h, args):
    h.extra_config += "policy:\n  mode: database\n"
    h.start_keel()
    api = Api(h.server_url, h.keel_cli("apikeys", "create", "-e", "1h").strip().splitlines()[-1])
    step("disk full: state first, a client joined")
    user = api.call("POST", "/api/v1/user", {"name": "before"})["user"]
    key = api.call("POST", "/api/v1/preauthkey", {"user": str(user["id"]), "reusable": True,
                                                   "expiration": "2200-01-01T00:00:00Z"})
    key = key["preAuthKey"]["key"]
    h.start_tailscaled(1)
    h.up(1, key, "full1")
    h.wait_running(1)
    filler = os.path.join(h.keel_dir, "filler")
    step(f"filling the tmpfs: {fill(filler)} bytes")

    step("writes fail with an answer that names the full disk")
    answers = {
        "create user": api.status("POST", "/api/v1/user", {"name": "during"}),
        "create key": api.status("POST", "/api/v1/preauthkey",
                                 {"user": str(user["id"]), "reusable": True,
                                  "expiration": "2200-01-01T00:00:00Z"}),
        "set policy": api.status("PUT", "/api/v1/policy", {"policy": policy_text(1)}),
    }
    for what, (status, text) in answers.items():
        step(f"  {what}: {status} {text.strip()[:200]}")
        check(status == 503 and says_full(text),
              f"{what} on a full disk answered {status} {text!r}: want a 503 naming the full disk")
    step("a registration on the full disk fails")
    h.start_tailscaled(2)
    r = h.up(2, key, "full2", check_rc=False, up_timeout="8s")
    check(r.returncode != 0, f"`tailscale up` succeeded on a full disk: {r.stdout}")
    check(not any(n["givenName"] == "full2" for n in api.call("GET", "/api/v1/node")["nodes"]),
          "a node registered on a full disk is listed")

    step("reads carry on")
    names = {u["name"] for u in api.call("GET", "/api/v1/user")["users"]}
    check(names == {"before"}, f"users on a full disk: {names}")
    check(harness.http_get(f"{h.server_url}/key?v=100")[0] == 200, "/key on a full disk")
    check(h.health() == 200, "/health on a full disk")
    check(h.backend_state(1) == "Running", "client 1 left Running on a full disk")
    check(h.keel_proc.alive(), "keel died on a full disk")
    errors = [line for line in h.keel_proc.tail(10**6) if "[error]" in line and says_full(line)]
    for what in ("POST /api/v1/user", "PUT /api/v1/policy", "register nodekey:"):
        check(any(what in line for line in errors),
              f"keel's log has no error line naming the full disk for {what}: {errors}")

    step("space again: writes work")
    os.unlink(filler)
    api.call("POST", "/api/v1/user", {"name": "after"})
    api.call("PUT", "/api/v1/policy", {"policy": policy_text(1)})
    r = h.up(2, key, "full2")
    h.wait_running(2)
    wait_until(lambda: h.peer_dns_names(1) == {f"full2.{harness.BASE_DOMAIN}."}, 30,
               "client 1 to see the node that joined after the disk had room again")
    names = {u["name"] for u in api.call("GET", "/api/v1/user")["users"]}
    check(names == {"before", "after"}, f"users after the disk had room again: {names}")


def test(h, args):
    if args.part == "storm":
        kill_storm(h, args)
    else:
        disk_full(h, args)


def add_args(parser):
    parser.add_argument("--loadgen", help="bench/loadgen binary (the storm's joining nodes)")
    parser.add_argument("--part", choices=("storm", "disk-full"), required=True)
    parser.add_argument("--kills", type=int, default=KILLS)
    parser.add_argument("--seed", type=int, help="the kill storm's seed (default: random)")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0], add_args))

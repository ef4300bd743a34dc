#!/usr/bin/env python3
"""A policy file (policy.mode: file) is re-read when keel gets a real SIGHUP.

Two clients: a (user alice) and b (user bob). The file first allows only alice -> bob:22; after
it is rewritten to allow only bob -> alice:22 and keel receives SIGHUP, the outcome flips within
5 s. A broken file followed by SIGHUP is refused: keel logs why, keeps running, and the last
good policy stays in force for the clients.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402
from test_policy import echo_server, reaches  # noqa: E402

A, B = 1, 2
FLIP_S = 5

ALICE_TO_BOB = """{
  // alice may open bob's port 22, nothing else
  "acls": [{"action": "accept", "src": ["alice@"], "dst": ["bob@:22"]}],
}"""
BOB_TO_ALICE = """{
  "acls": [{"action": "accept", "src": ["bob@"], "dst": ["alice@:22"]}],
}"""
BROKEN = """{
  "acls": [{"action": "accept", "src": ["nobody-group"], "dst": ["bob@:22"]}],
"""


def write_policy(path, text):
    # Write-then-rename, as editors and config managers do: SIGHUP never sees half a file.
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def log_lines(h):
    with open(h.keel_proc.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace").splitlines()


def test(h, args):
    policy_path = os.path.join(h.tmp, "policy.hujson")
    write_policy(policy_path, ALICE_TO_BOB)
    h.write_config()
    with open(h.config_path, "a") as f:
        f.write(f"policy:\n  mode: file\n  path: {policy_path}\n")
    h.start_keel()
    echo_server(22)
    h.create_user("alice")
    h.create_user("bob")
    keys = {A: h.create_authkey("alice"), B: h.create_authkey("bob")}
    ip = h.join_all(keys, {A: "a", B: "b"})

    step("policy file at start: alice -> bob:22 only")
    wait_until(lambda: reaches(h, A, ip[B], 22), 20, "a to reach b:22")
    check(not reaches(h, B, ip[A], 22), "b reached a:22, which the first policy does not allow")

    step("rewrite the file to bob -> alice:22, then SIGHUP")
    write_policy(policy_path, BOB_TO_ALICE)
    start = time.time()
    os.kill(h.keel_proc.popen.pid, signal.SIGHUP)
    wait_until(lambda: reaches(h, B, ip[A], 22, timeout=2.0), FLIP_S + 10,
               "b to reach a:22 after SIGHUP")
    flipped = time.time() - start
    step(f"b reached a:22 {flipped:.2f} s after SIGHUP")
    check(flipped <= FLIP_S, f"the reload took {flipped:.2f} s, more than {FLIP_S} s")
    check(not reaches(h, A, ip[B], 22), "a still reaches b:22 after the reload")

    step("a broken file and SIGHUP: refused, the last good policy stays")
    write_policy(policy_path, BROKEN)
    os.kill(h.keel_proc.popen.pid, signal.SIGHUP)
    wait_until(lambda: any("policy not reloaded" in line for line in log_lines(h)), 10,
               "keel to log that it refused the broken policy")
    refusal = [line for line in log_lines(h) if "policy not reloaded" in line][-1]
    step(f"keel: {refusal.split('] ')[-1]}")
    check(h.keel_proc.alive(), "keel exited after a broken policy")
    check(h.health() == 200, "keel's /health is not 200 after a broken policy")
    check(reaches(h, B, ip[A], 22), "b no longer reaches a:22 after a refused reload")
    check(not reaches(h, A, ip[B], 22), "a reaches b:22 after a refused reload")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

#!/usr/bin/env python3
"""Tailscale SSH "check" rules with real clients: `tailscale ssh` waits until an admin decides.

Policy: alice's nodes may SSH to her own nodes as root, under a check rule asked every time
(checkPeriod "always"); tuning.register_cache_expiration is 4 s. Node d runs Tailscale SSH
(`tailscale set --ssh`); from node c, `tailscale ssh root@d` (OpenSSH through `tailscale nc`):
- waits, printing keel's banner with the auth id; `keel auth approve --auth-id ID` lets the
  command run;
- a second attempt refused with `keel auth reject` fails with keel's message;
- a third, left unanswered, fails once the request expires;
- approving an unknown or already decided id fails with a clear error.
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402

C, D = 1, 2
EXPIRY_S = 4
POLICY = """{
  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
  "ssh": [{"action": "check", "src": ["alice@"], "dst": ["autogroup:self"], "users": ["root"],
           "checkPeriod": "always"}],
}"""
AUTH_ID = re.compile(r"keel auth approve --auth-id (keel-authreq-[A-Za-z0-9_-]+)")


class SshAttempt(harness.LiveCommand):
    """`tailscale ssh root@<ip> echo ...` from client n, read as it runs."""

    def __init__(self, h, n, ip):
        super().__init__(h.tailscale_popen(n, "ssh", f"root@{ip}", "echo", "keel-ssh-ok",
                                           stdin=subprocess.DEVNULL))

    def auth_id(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = AUTH_ID.search(self.err.decode("utf-8", "replace"))
            if m:
                return m.group(1)
            if self.pump(0.5):
                break
        raise harness.TestFailure(f"no auth id in tailscale ssh's output: {self.err!r}")


def test(h, args):
    h.extra_config = (f"policy:\n  mode: database\n"
                      f"tuning:\n  register_cache_expiration: {EXPIRY_S}s\n")
    h.start_keel()
    h.create_user("alice")
    path = os.path.join(h.tmp, "policy.hujson")
    with open(path, "w") as f:
        f.write(POLICY)
    h.keel_cli("policy", "set", "--file", path)
    key = h.create_authkey("alice", "--reusable")
    ip = h.join_all({C: key, D: key}, {C: "c", D: "d"})
    r = h.tailscale(D, "set", "--ssh")
    check(r.returncode == 0, f"d: tailscale set --ssh: {r.stderr}")
    wait_until(lambda: any(p.get("sshHostKeys") for p in (h.status(C).get("Peer") or {}).values()),
               20, "d's SSH host keys to reach c")

    step("tailscale ssh waits for the admin; keel auth approve lets it through")
    attempt = SshAttempt(h, C, ip[D])
    try:
        auth_id = attempt.auth_id()
        step(f"held under {auth_id}")
        check(not attempt.pump(1.0), "tailscale ssh ended before any verdict")
        h.keel_cli("auth", "approve", "--auth-id", auth_id)
        rc = attempt.finish(30)
        check(rc == 0 and b"keel-ssh-ok" in attempt.out,
              f"approved ssh exited {rc}: out {attempt.out!r} err {attempt.err!r}")
        r = h.keel_cli("auth", "approve", "--auth-id", auth_id, check_rc=False)
        check(r.returncode != 0 and "no longer pending" in r.stderr, f"second approve: {r.stderr!r}")
    finally:
        attempt.kill()

    step("keel auth reject refuses the next attempt")
    attempt = SshAttempt(h, C, ip[D])
    try:
        auth_id = attempt.auth_id()
        h.keel_cli("auth", "reject", "--auth-id", auth_id)
        rc = attempt.finish(30)
        check(rc != 0 and b"keel-ssh-ok" not in attempt.out, f"rejected ssh exited {rc}")
        check(b"rejected" in attempt.err, f"no rejection message: {attempt.err!r}")
    finally:
        attempt.kill()

    step(f"an unanswered check expires after {EXPIRY_S} s into a refusal")
    attempt = SshAttempt(h, C, ip[D])
    try:
        auth_id = attempt.auth_id()
        start = time.monotonic()
        rc = attempt.finish(EXPIRY_S + 30)
        check(rc != 0 and b"not approved in time" in attempt.err,
              f"unanswered ssh exited {rc}: {attempt.err!r}")
        check(time.monotonic() - start >= EXPIRY_S - 1, "the check expired early")
        r = h.keel_cli("auth", "approve", "--auth-id", auth_id, check_rc=False)
        check(r.returncode != 0 and "expired" in r.stderr, f"approving late: {r.stderr!r}")
    finally:
        attempt.kill()

    r = h.keel_cli("auth", "reject", "--auth-id", "keel-authreq-nope", check_rc=False)
    check(r.returncode != 0 and "no pending auth request" in r.stderr, f"unknown id: {r.stderr!r}")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

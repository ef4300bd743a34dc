#!/usr/bin/env python3
"""Pre-auth keys as real clients see them.

A single-use key admits its first client and refuses the second ("already used"); a key past its
expiration is refused ("expired"); refused clients are not listed by keel, and a refused client
can still join afterwards with a good key.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BASE_DOMAIN, check, step, wait_until  # noqa: E402

USER = "bob"


def expect_refused(h, n, key, name, reason):
    """`tailscale up` with key must fail and say why (reason, case-insensitive)."""
    r = h.up(n, key, name, check_rc=False, up_timeout="30s")
    output = f"{r.stdout}\n{r.stderr}"
    check(r.returncode != 0,
          f"client {n}: `tailscale up` with a refused key exited 0:\n{output}")
    check(reason in output.lower(),
          f"client {n}: refusal does not mention {reason!r} (exit {r.returncode}):\n{output}")
    state = h.backend_state(n)
    check(state != "Running", f"client {n} is {state} although its key was refused")
    check(name not in h.nodes(), f"keel lists {name} although its key was refused")


def test(h, args):
    h.start_keel()
    h.create_user(USER)
    for n in (1, 2, 3):
        h.start_tailscaled(n)

    single = h.create_authkey(USER)
    step("client 1 joins with a single-use key")
    h.up(1, single, "first")
    h.wait_running(1)
    check("first" in h.nodes(), "keel does not list the node that joined")

    step("client 2 tries the same single-use key")
    expect_refused(h, 2, single, "second", "already used")

    step("client 3 tries a key that has expired")
    expiring = h.create_authkey(USER, "--expiration", "1s")
    time.sleep(2)
    expect_refused(h, 3, expiring, "third", "expired")

    step("client 2 joins with a fresh key")
    fresh = h.create_authkey(USER)
    h.up(2, fresh, "second")
    h.wait_running(2)
    wait_until(lambda: h.peer_dns_names(1) == {f"second.{BASE_DOMAIN}."}, 30,
               "client 1 to see client 2 (and only it) as a peer")
    check(set(h.nodes()) == {"first", "second"},
          f"keel should list exactly first and second: {sorted(h.nodes())}")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

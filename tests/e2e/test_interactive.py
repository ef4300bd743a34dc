#!/usr/bin/env python3
"""Interactive login with real clients: `tailscale up` without a key waits for an admin.

keel has no identity provider configured here (tuning.register_cache_expiration is 6 s):
- `tailscale up` prints an AuthURL on keel (/register/<auth-id>) and waits; the page, opened in
  headless chromium, names the command to run and is served with security headers;
- while it waits, the client's follow-up is held: keel logs the login once, not per retry;
- `keel auth register --auth-id ID --user alice` completes it: `tailscale up` exits 0 and the
  node is alice's;
- `keel auth reject` makes a second client's `tailscale up` fail with keel's message;
- a login nobody completes expires: the page says so and the client gets a fresh URL, which
  `keel auth register` (as bob) completes; bob's node sees alice's;
- `tailscale up --force-reauth` goes through the same flow and keeps the node and its address;
- registering an unknown, decided or mistyped login fails clearly and changes nothing.
"""

import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from browser import Browser  # noqa: E402
from harness import check, step, wait_until  # noqa: E402

A, B = 1, 2
EXPIRY_S = 6
AUTH_URL = re.compile(r"(http://127\.0\.0\.1:\d+/register/(keel-authreq-[A-Za-z0-9_-]+))")


class Up(harness.LiveCommand):
    """`tailscale up` without a key on client n, read as it runs."""

    def __init__(self, h, n, hostname, *flags):
        super().__init__(h.tailscale_popen(n, "up", f"--login-server={h.server_url}",
                                           f"--hostname={hostname}", *flags))
        self.h = h

    def urls(self):
        return [m.group(1) for m in AUTH_URL.finditer(self.text())]

    def auth_url(self, after=None, timeout=30):
        """The first AuthURL printed other than `after`: (url, auth id)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for url in self.urls():
                if url != after:
                    return url, url.rsplit("/", 1)[1]
            if self.pump(0.5):
                break
        raise harness.TestFailure(f"no new AuthURL from tailscale up: {self.text()!r}")

    def registered_as(self, auth_id, user):
        """Runs `keel auth register` for the login; `tailscale up` must then exit 0."""
        out = self.h.keel_cli("auth", "register", "--auth-id", auth_id, "--user", user)
        rc = self.finish(30)
        check(rc == 0, f"tailscale up exited {rc} after auth register: {self.text()!r}")
        return out


def header(url, name):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.headers.get(name)


def login_log_lines(h, auth_id):
    with open(os.path.join(h.tmp, "keel.log"), encoding="utf-8", errors="replace") as f:
        return [line for line in f if "login required" in line and auth_id in line]


def node_of(h, hostname):
    nodes = h.nodes()
    check(hostname in nodes, f"no node {hostname} in keel: {sorted(nodes)}")
    return nodes[hostname]


def test(h, args):
    h.extra_config = f"tuning:\n  register_cache_expiration: {EXPIRY_S}s\n"
    h.start_keel()
    h.create_user("alice")
    h.create_user("bob")
    h.start_tailscaled(A)
    h.start_tailscaled(B)
    browser = Browser(h.tmp, "interactive")
    try:
        run_logins(h, browser)
    finally:
        browser.close()


def run_logins(h, browser):
    step("tailscale up without a key prints keel's AuthURL and waits")
    up = Up(h, A, "laptop")
    try:
        url, auth_id = up.auth_url()
        step(f"waiting at {url}")
        check(not up.pump(2.0), f"tailscale up ended before the login: {up.text()!r}")
        check(len(login_log_lines(h, auth_id)) == 1,
              f"keel should log the login once: {login_log_lines(h, auth_id)}")

        step("the page, in chromium, says what the admin runs")
        browser.open(url)
        text = browser.text()
        check(f"keel auth register --auth-id {auth_id} --user USERNAME" in text,
              f"the page does not name the command: {text!r}")
        check("laptop" in text, f"the page does not name the device: {text!r}")
        check("waiting" in browser.title.lower(), f"page title {browser.title!r}")
        browser.screenshot("register-pending")
        csp = header(url, "Content-Security-Policy") or ""
        check("default-src 'none'" in csp and "frame-ancestors 'none'" in csp, f"CSP {csp!r}")
        check(header(url, "Cache-Control") == "no-store", "the page may be cached")

        step("keel auth register completes tailscale up; the node is alice's")
        out = up.registered_as(auth_id, "alice")
        check("Node laptop registered" in out, f"auth register printed {out!r}")
        check(len(up.urls()) == 1, f"tailscale up was sent more than one URL: {up.urls()}")
        h.wait_running(A)
        laptop = node_of(h, "laptop")
        check(laptop["user"]["name"] == "alice", f"laptop belongs to {laptop['user']}")
        check(len(login_log_lines(h, auth_id)) == 1, "keel logged the login again")
        browser.open(url)
        check("registered" in browser.text(), f"page after registering: {browser.text()!r}")
        browser.screenshot("register-done")
        r = h.keel_cli("auth", "register", "--auth-id", auth_id, "--user", "alice",
                       check_rc=False)
        check(r.returncode != 0 and "no longer pending" in r.stderr, f"again: {r.stderr!r}")
    finally:
        up.kill()
    ip_a = h.tailscale_ipv4(A)

    step("keel auth reject fails the other client's tailscale up with keel's message")
    up = Up(h, B, "tablet")
    try:
        url, auth_id = up.auth_url()
        h.keel_cli("auth", "reject", "--auth-id", auth_id)
        rc = up.finish(30)
        check(rc != 0 and "rejected" in up.text(), f"rejected up exited {rc}: {up.text()!r}")
        check("tablet" not in h.nodes(), "a rejected login made a node")
        browser.open(url)
        check("refused" in browser.text().lower(), f"page after reject: {browser.text()!r}")
        browser.screenshot("register-rejected")
    finally:
        up.kill()

    step(f"a login nobody completes expires after {EXPIRY_S} s; the client gets a fresh URL")
    up = Up(h, B, "tablet")
    try:
        url, auth_id = up.auth_url()
        started = time.monotonic()
        fresh, fresh_id = up.auth_url(after=url, timeout=EXPIRY_S + 30)
        check(time.monotonic() - started >= EXPIRY_S - 1, "the login expired early")
        browser.open(url)
        check("expired" in browser.text().lower(), f"expired page: {browser.text()!r}")
        browser.screenshot("register-expired")
        r = h.keel_cli("auth", "register", "--auth-id", auth_id, "--user", "bob", check_rc=False)
        check(r.returncode != 0 and "expired" in r.stderr, f"registering late: {r.stderr!r}")

        step("bad arguments change nothing; the fresh login completes as bob")
        r = h.keel_cli("auth", "register", "--auth-id", fresh_id, "--user", "nobody",
                       check_rc=False)
        check(r.returncode != 0 and "nobody" in r.stderr, f"unknown user: {r.stderr!r}")
        r = h.keel_cli("auth", "register", "--auth-id", "keel-authreq-nope", "--user", "bob",
                       check_rc=False)
        check(r.returncode != 0 and "no pending login" in r.stderr, f"unknown id: {r.stderr!r}")
        r = h.keel_cli("auth", "register", "--user", "bob", check_rc=False)
        check(r.returncode != 0 and "auth-id" in r.stderr, f"missing --auth-id: {r.stderr!r}")
        check("tablet" not in h.nodes(), "a failed register made a node")
        up.registered_as(fresh_id, "bob")
    finally:
        up.kill()
    h.wait_running(B)
    check(node_of(h, "tablet")["user"]["name"] == "bob", "tablet is not bob's")
    wait_until(lambda: any(ip_a in p.get("TailscaleIPs", [])
                           for p in (h.status(B).get("Peer") or {}).values()),
               30, "bob's tablet to see alice's laptop")
    r = h.tailscale(B, "ping", "--timeout=10s", "--c=5", ip_a, timeout=60)
    check(r.returncode == 0 and "pong" in r.stdout, f"tablet -> laptop ping: {r.stdout} {r.stderr}")

    step("tailscale up --force-reauth logs in again and keeps the node and its address")
    before = node_of(h, "laptop")
    up = Up(h, A, "laptop", "--force-reauth")
    try:
        up.registered_as(up.auth_url()[1], "alice")
    finally:
        up.kill()
    h.wait_running(A)
    after = node_of(h, "laptop")
    check(after["id"] == before["id"], f"re-auth made a new node: {before['id']} -> {after['id']}")
    check(after["ipAddresses"] == before["ipAddresses"],
          f"re-auth moved the node: {before['ipAddresses']} -> {after['ipAddresses']}")
    check(after["nodeKey"] != before["nodeKey"], "re-auth kept the old node key")
    check(h.tailscale_ipv4(A) == ip_a, "the client's address changed")
    check(len(h.nodes()) == 2, f"nodes after re-auth: {sorted(h.nodes())}")

    step("an unknown login link is a 404 page")
    browser.open(f"{h.server_url}/register/keel-authreq-unknown")
    check("Unknown login" in browser.title, f"unknown page title {browser.title!r}")
    browser.screenshot("register-unknown")
    status, _ = harness.http_get(f"{h.server_url}/register/keel-authreq-unknown")
    check(status == 404, f"unknown login answered {status}")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

#!/usr/bin/env python3
"""OpenID Connect login with real clients, a real provider and a real browser.

keel logs people in through npm's oidc-provider (tests/e2e/oidc_provider.mjs, PKCE required,
its own RS256 key) with oidc.allowed_domains [example.com] and oidc.policy_groups mapping the
provider's "engineering" group to the policy's group:eng. Headless chromium follows the link
`tailscale up` prints:
- alice: keel redirects to the provider, she signs in, confirms on keel's page, and
  `tailscale up` exits 0; the node is hers (user matched by issuer/subject, email and name from
  the claims);
- bob (engineering) and carol (no group): bob reaches alice's port 8080, which the policy opens
  to group:eng only, carol does not (she reaches port 22, open to her); bob sees alice's node;
- dave (elsewhere.test) gets the refusal page and his `tailscale up` fails with the reason;
- a tampered state, a replayed callback, an ID token for another audience and an expired one
  (both genuinely signed by the provider) are each refused with a page; no node or user comes of
  them, and neither the client secret nor any code, state or token appears in keel's log.
Every page is screenshotted and checked not to be blank.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import oidc  # noqa: E402
from browser import Browser  # noqa: E402
from harness import check, step, wait_until  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from test_interactive import Up  # noqa: E402
from test_policy import echo_server, reaches  # noqa: E402

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
CLIENT_SECRET = "keel-e2e-oidc-client-secret"

POLICY = """{
  // The provider's "engineering" group is group:eng (oidc.policy_groups); its members come
  // from the ID token, not from this file.
  "groups": {"group:eng": []},
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["alice@example.com:8080"]},
    {"action": "accept", "src": ["carol@example.com"], "dst": ["alice@example.com:22"]},
  ],
}"""


def keel_log(h):
    with open(os.path.join(h.tmp, "keel.log"), encoding="utf-8", errors="replace") as f:
        return f.read()


def page(browser, shot, *expect):
    """Screenshots the page and checks its text has each of `expect`."""
    browser.screenshot(shot)
    text = browser.text()
    for e in expect:
        check(e in text, f"page {shot} lacks {e!r}: {text!r}")
    return text


def sign_in_and_confirm(h, browser, n, login, hostname, *flags):
    """`tailscale up` on client n, signed in as `login` in the browser; returns the node."""
    oidc.forget_session(browser)
    up = Up(h, n, hostname, *flags)
    try:
        url, _ = up.auth_url()
        browser.open(url)
        check(browser.url.startswith(h.idp.issuer), f"keel did not redirect: at {browser.url}")
        oidc.sign_in(browser, login)
        check(browser.url.startswith(h.server_url + "/oidc/callback"), f"back at {browser.url}")
        page(browser, f"confirm-{login}", hostname, "Add device")
        browser.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_until(lambda: "Device registered" in browser.title, 15, "the registered page")
        page(browser, f"registered-{login}", hostname, "has joined the tailnet")
        rc = up.finish(30)
        check(rc == 0, f"tailscale up as {login} exited {rc}: {up.text()!r}")
    finally:
        up.kill()
    h.wait_running(n)
    nodes = h.nodes()
    check(hostname in nodes, f"no node {hostname}: {sorted(nodes)}")
    return nodes[hostname]


def test(h, args):
    idp_port = harness.free_port()
    secret_path = os.path.join(h.tmp, "oidc-client-secret")
    with open(secret_path, "w") as f:
        f.write(CLIENT_SECRET + "\n")
    policy_path = os.path.join(h.tmp, "policy.hujson")
    with open(policy_path, "w") as f:
        f.write(POLICY)
    h.idp = oidc.IdentityProvider(h, idp_port, h.server_url + "/oidc/callback",
                                  client_secret=CLIENT_SECRET,
                                  version=args.oidc_provider_version).start()
    h.extra_config = f"""policy:
  path: {policy_path}
oidc:
  issuer: {h.idp.issuer}
  client_id: keel
  client_secret_path: {secret_path}
  scope: [openid, profile, email, groups]
  allowed_domains: [example.com]
  pkce:
    enabled: true
  policy_groups:
    engineering: group:eng
"""
    h.start_keel()
    for n in (ALICE, BOB, CAROL, DAVE):
        h.start_tailscaled(n)
    echo_server(8080)
    echo_server(22)
    browser = Browser(h.tmp, "oidc")
    try:
        run(h, browser)
    finally:
        browser.close()


def run(h, browser):
    step("alice: tailscale up, the provider's login in chromium, keel's confirmation")
    alice = sign_in_and_confirm(h, browser, ALICE, "alice", "alice-laptop")
    user = alice["user"]
    check(user["email"] == "alice@example.com" and user["displayName"] == "Alice Anders",
          f"alice's user from the claims: {user}")
    check(user["provider"] == "oidc" and user["providerId"] == h.idp.issuer + "/alice",
          f"alice's user is not matched by issuer/subject: {user}")
    ip_alice = h.tailscale_ipv4(ALICE)

    step("alice again, with --force-reauth: the same user and node")
    before = alice
    alice = sign_in_and_confirm(h, browser, ALICE, "alice", "alice-laptop", "--force-reauth")
    check(alice["id"] == before["id"] and alice["user"]["id"] == before["user"]["id"],
          f"re-login made a new node or user: {before} -> {alice}")

    step("bob (engineering) and carol (no group): the group from the provider decides")
    bob = sign_in_and_confirm(h, browser, BOB, "bob", "bob-desktop")
    carol = sign_in_and_confirm(h, browser, CAROL, "carol", "carol-phone")
    check(bob["user"]["name"] == "bob" and carol["user"]["name"] == "carol",
          f"users {bob['user']} {carol['user']}")
    wait_until(lambda: any(ip_alice in p.get("TailscaleIPs", [])
                           for p in (h.status(BOB).get("Peer") or {}).values()),
               30, "bob to see alice's node")
    wait_until(lambda: reaches(h, BOB, ip_alice, 8080), 30, "bob to reach alice:8080 (group:eng)")
    wait_until(lambda: reaches(h, CAROL, ip_alice, 22), 30, "carol to reach alice:22")
    check(not reaches(h, CAROL, ip_alice, 8080), "carol reached alice:8080 outside group:eng")
    check(not reaches(h, BOB, ip_alice, 22), "bob reached alice:22, which is carol's only")
    users = {u["name"] for u in h.keel_cli("users", "list", json_out=True)}

    step("dave (elsewhere.test) gets the refusal page; his tailscale up fails with the reason")
    oidc.forget_session(browser)
    up = Up(h, DAVE, "dave-laptop")
    try:
        url, _ = up.auth_url()
        browser.open(url)
        oidc.sign_in(browser, "dave")
        page(browser, "refused-domain", "elsewhere.test may not use this tailnet")
        check("Login refused" in browser.title, f"refusal title {browser.title!r}")
        rc = up.finish(30)
        check(rc != 0 and "elsewhere.test may not use this tailnet" in up.text(),
              f"dave's tailscale up exited {rc}: {up.text()!r}")
    finally:
        up.kill()

    step("tampered state, replayed callback, wrong audience, expired token: refused pages")
    up = Up(h, DAVE, "dave-laptop")
    try:
        url, _ = up.auth_url()
        oidc.forget_session(browser)
        oidc.intercept_callback(browser)
        browser.open(url)
        callback = oidc.sign_in(browser, "bob")
        oidc.release_callback(browser)
        params = oidc.query(callback)
        check("code" in params and "state" in params, f"callback {callback}")
        state = params["state"]
        tampered = callback.replace(f"state={state}", f"state={state[:-1]}{'A' if state[-1] != 'A' else 'B'}")
        browser.open(tampered)
        page(browser, "bad-state", "does not match")
        browser.open(callback)  # the genuine one: keel shows the confirmation ...
        page(browser, "confirm-unconfirmed", "Add device")
        browser.open(callback)  # ... once
        page(browser, "replayed", "already completed or refused")
        for login, shot in (("mallory-aud", "wrong-audience"), ("mallory-exp", "expired-token")):
            oidc.forget_session(browser)
            browser.open(url)
            oidc.sign_in(browser, login)
            page(browser, shot, "could not be verified")
        check(not up.pump(1.0), f"tailscale up ended: {up.text()!r}")
    finally:
        up.kill()
    log = keel_log(h)
    check("not meant for this client (audience)" in log and "ID token has expired" in log,
          "keel did not log why the forged tokens were refused")

    step("none of that made a node or a user, and no secret reached keel's log")
    check("dave-laptop" not in h.nodes(), f"nodes: {sorted(h.nodes())}")
    after = {u["name"] for u in h.keel_cli("users", "list", json_out=True)}
    check(after == users, f"users changed: {sorted(users)} -> {sorted(after)}")
    check(not any(n.startswith(("dave", "mallory")) for n in after), f"users {sorted(after)}")
    for secret in (CLIENT_SECRET, params["code"], state, "eyJ"):
        check(secret not in log, f"keel's log holds a secret ({secret[:6]}...)")
    for shot in ("confirm-alice", "registered-alice", "refused-domain", "bad-state", "replayed",
                 "wrong-audience", "expired-token"):
        check(os.path.exists(os.path.join(browser.shots, f"oidc-{shot}.png")), f"no {shot} shot")


def add_args(parser):
    parser.add_argument("--oidc-provider-version", default=oidc.DEFAULT_VERSION,
                        help="the oidc-provider release scripts/install-oidc-provider.sh installed")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0], add_args))

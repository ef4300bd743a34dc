"""A real OpenID Provider for the OpenID Connect login tests, and the browser steps on its pages.

IdentityProvider runs tests/e2e/oidc_provider.mjs (oidc-provider under node, installed by
scripts/install-oidc-provider.sh) as one of the harness's processes, so it stops with the test
and its log is printed on failure. Its users are static: alice, bob, carol (example.com), dave
(elsewhere.test) and mallory-aud / mallory-exp, whose id_tokens come back with a wrong audience
/ already expired but genuinely signed. Any password signs anyone in.

sign_in() fills in the provider's login and consent pages in a browser.Browser;
forget_session() makes the next authorization request show the login form again;
intercept_callback() stops the browser at the redirect back to keel, so a test can read (and
replay, or tamper with) the code and state it carries.
"""

import json
import os
import shutil
import threading
import time
import urllib.parse
import urllib.request

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By

import harness
from harness import TestFailure, check, wait_until

# Keep in sync with scripts/test.sh (oidc_provider_version) and tests/e2e/CMakeLists.txt
# (KEEL_OIDC_PROVIDER_VERSION).
DEFAULT_VERSION = "9.13.3"
PROVIDER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "oidc_provider.mjs")
READY_LINE = "oidc-provider ready at "

# oidc-provider's default cookie names (configuration cookies.names): the login session and the
# per-interaction cookies (plus ".sig" companions, were cookies.keys configured).
IDP_COOKIE_PREFIXES = ("_session", "_interaction")


def tools_dir():
    return os.environ.get("KEEL_TOOLS_DIR") or os.path.expanduser("~/.cache/keel-tools")


class IdentityProvider:
    """oidc-provider on 127.0.0.1:port with one confidential client (client_secret_basic,
    authorization code with PKCE S256 required) redirecting only to redirect_uri."""

    def __init__(self, h, port, redirect_uri, client_id="keel",
                 client_secret="keel-e2e-oidc-client-secret", version=DEFAULT_VERSION,
                 name="oidc-provider"):
        """name: of the process and its log, which a second provider in a test must change."""
        self.h = h
        self.name = name
        self.port = port
        self.redirect_uri = redirect_uri
        self.client_id = client_id
        self.client_secret = client_secret
        self.version = version
        self.install_dir = os.path.join(tools_dir(), f"oidc-provider-{version}")
        self.proc = None

    @property
    def issuer(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        """Starts the provider and waits until it serves its discovery document."""
        package = os.path.join(self.install_dir, "node_modules", "oidc-provider", "package.json")
        if not os.path.exists(package):
            raise TestFailure(f"oidc-provider {self.version} is not installed in "
                              f"{self.install_dir}; run scripts/install-oidc-provider.sh "
                              f"{self.version}")
        node = shutil.which("node")
        if node is None:
            raise TestFailure("node not found; scripts/setup.sh installs nodejs")
        env = self.h._env("oidc-provider")
        env.update({
            "OIDC_PROVIDER_DIR": self.install_dir,
            "PORT": str(self.port),
            "CLIENT_ID": self.client_id,
            "CLIENT_SECRET": self.client_secret,
            "REDIRECT_URI": self.redirect_uri,
        })
        # A restarted provider appends to the same log (Harness._start names it after the
        # process): only a ready line past the old ones counts.
        log_path = os.path.join(self.h.tmp, f"{self.name}.log")
        seen = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        self.proc = self.h._start(self.name, [node, PROVIDER_SCRIPT], env=env)
        wait_until(lambda: self._expect_alive() and self._printed_ready(seen), timeout,
                   f"{self.name} to print {READY_LINE!r}")
        status, body = harness.http_get(f"{self.issuer}/.well-known/openid-configuration")
        check(status == 200, f"{self.name}'s discovery document answered {status}: {body!r}")
        return self

    def stop(self):
        self.proc.stop()

    def _printed_ready(self, offset):
        with open(self.proc.log_path, "rb") as f:
            f.seek(offset)
            return (READY_LINE + self.issuer).encode() in f.read()

    def _expect_alive(self):
        if not self.proc.alive():
            raise harness.ServiceDied(f"{self.name} {self.proc.state()}")
        return True


# --- the provider's pages in the browser ------------------------------------------------------

def _origin(url):
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _find(browser, css):
    """The first element matching css on the current page, or None."""
    found = browser.driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found else None


def sign_in(browser, login, password="any password", timeout=30):
    """Signs in as `login` on the provider's login page, which the browser already shows (it
    followed keel's redirect to the provider's /auth), and grants consent if asked.

    Returns once the browser has left the provider (normally: it is at keel's callback, or at
    the blocked callback URL after intercept_callback). Fails with the page's text if the
    provider shows its error page or asks to sign in again (an unknown login).
    """
    form = wait_until(lambda: _find(browser, "input[name=login]"), timeout,
                      f"the provider's login form (browser at {browser.url})")
    idp = _origin(browser.url)
    form.send_keys(login)
    _find(browser, "input[name=password]").send_keys(password)
    submit = _find(browser, "button[type=submit]")
    check(submit is not None and submit.text.strip() == "Sign-in",
          f"no Sign-in button on the provider's login page: {browser.text()!r}")
    _submit(submit, timeout)

    deadline = time.monotonic() + timeout
    while True:
        try:
            url = browser.url
            if _origin(url) != idp:
                return url
            if _find(browser, "input[name=login]"):
                raise TestFailure(f"the provider asked to sign in again after {login!r}: "
                                  f"{browser.text()!r}")
            if browser.title.startswith("oops!"):
                raise TestFailure(f"the provider's error page after signing in as {login!r}: "
                                  f"{browser.text()!r}")
            consent = _find(browser, "button[type=submit][autofocus]")
            if consent is not None and consent.text.strip() == "Continue":
                _submit(consent, timeout)
                continue
        except WebDriverException:
            pass  # the page changed while we looked at it: look again
        if time.monotonic() >= deadline:
            raise TestFailure(f"still on the provider after {timeout}s signing in as {login!r} "
                              f"(at {browser.url}): {browser.text()!r}")
        time.sleep(0.1)


def _submit(button, timeout):
    """Clicks a form's submit button and waits until its page is gone, so that what the
    caller finds next is on the page that follows."""
    button.click()
    wait_until(lambda: _is_stale(button), timeout, "the provider's page to be submitted", 0.05)


def _is_stale(element):
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True


def forget_session(browser, issuer=None):
    """Deletes the provider's cookies (its login session and any interaction in progress), so
    the next authorization request shows the login form instead of signing the same user in
    silently.

    Only cookies with the provider's names go (of issuer's host, when given): cookies are
    scoped by host, not port, so keel's cookies (same host 127.0.0.1, another port) are in the
    same jar, and they stay. Uses Chrome DevTools, so it works whatever page the browser is on.
    """
    host = urllib.parse.urlsplit(issuer).hostname if issuer else None
    cookies = browser.driver.execute_cdp_cmd("Storage.getCookies", {})["cookies"]
    for c in cookies:
        if c["name"].startswith(IDP_COOKIE_PREFIXES) and host in (None, c["domain"]):
            browser.driver.execute_cdp_cmd("Network.deleteCookies", {
                "name": c["name"], "domain": c["domain"], "path": c["path"]})


# --- stopping at keel's callback ---------------------------------------------------------------
#
# Chrome's Network.setBlockedURLs only blocks subresources, not navigations, and Selenium's
# execute_cdp_cmd cannot receive DevTools events, which is how Chrome reports a request the
# Fetch domain paused. So the interception opens a DevTools connection of its own to the
# browser's page (chromedriver's debuggerAddress; Chrome accepts several clients per page) and
# answers each paused request itself by failing it.

class CallbackInterception:
    """Fails every request of the browser's current tab whose URL matches pattern (DevTools
    Fetch patterns: '*' any characters, '?' one, backslash escapes) before it is sent, and
    records its URL. A navigation to it ends on Chrome's error page, whose URL (browser.url)
    is the refused one."""

    def __init__(self, browser, pattern):
        import websocket  # websocket-client, a dependency of selenium

        self.urls = []  # the refused URLs, in order
        self._replies = {}  # command id -> its reply, for the commands _call waits on
        self._waiting = set()
        self._next_id = 0
        self._cond = threading.Condition()
        address = browser.driver.capabilities["goog:chromeOptions"]["debuggerAddress"]
        with urllib.request.urlopen(f"http://{address}/json/list", timeout=10) as resp:
            targets = json.load(resp)
        # chromedriver's window handles are DevTools target ids.
        handle = browser.driver.current_window_handle
        page = [t for t in targets if t.get("id") == handle and t.get("type") == "page"]
        check(page, f"no DevTools page target {handle} in {targets}")
        # Without an Origin header: Chrome refuses DevTools connections from origins not
        # listed in --remote-allow-origins.
        self._ws = websocket.create_connection(page[0]["webSocketDebuggerUrl"], timeout=None,
                                               suppress_origin=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._call("Fetch.enable", {"patterns": [{"urlPattern": pattern,
                                                  "requestStage": "Request"}]})

    def wait(self, timeout=30):
        """The first refused URL, once there is one."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.urls, timeout):
                raise TestFailure(f"no request was intercepted within {timeout}s")
            return self.urls[0]

    def close(self):
        try:
            if self._reader.is_alive():  # else the connection is gone, and Fetch with it
                self._call("Fetch.disable", {})
        finally:
            self._ws.close()
            self._reader.join(5)

    def _call(self, method, params, timeout=10):
        with self._cond:
            self._next_id += 1
            cid = self._next_id
            self._waiting.add(cid)
        self._ws.send(json.dumps({"id": cid, "method": method, "params": params}))
        with self._cond:
            answered = self._cond.wait_for(lambda: cid in self._replies, timeout)
            self._waiting.discard(cid)
            if not answered:
                raise TestFailure(f"DevTools did not answer {method} within {timeout}s")
            reply = self._replies.pop(cid)
        if "error" in reply:
            raise TestFailure(f"DevTools {method} failed: {reply['error']}")
        return reply.get("result")

    def _read(self):
        while True:
            try:
                message = json.loads(self._ws.recv())
            except Exception:  # noqa: BLE001 - closed (by close() or the browser): done
                return
            if message.get("method") == "Fetch.requestPaused":
                params = message["params"]
                with self._cond:
                    self.urls.append(params["request"]["url"])
                    self._next_id += 1
                    cid = self._next_id
                    self._cond.notify_all()
                # Fail it at once: a paused navigation would hold the page (and Selenium,
                # which waits for it) until the page load timeout. The reply is not awaited.
                self._ws.send(json.dumps({"id": cid, "method": "Fetch.failRequest", "params": {
                    "requestId": params["requestId"], "errorReason": "BlockedByClient"}}))
            elif "id" in message:
                with self._cond:
                    if message["id"] in self._waiting:  # not the replies to failRequest
                        self._replies[message["id"]] = message
                        self._cond.notify_all()


def intercept_callback(browser, pattern="*/oidc/callback*"):
    """Stops the browser from loading URLs matching pattern (by default keel's OIDC callback)
    until release_callback: the provider's redirect back to keel ends on Chrome's error page
    instead, keel never sees the code, and browser.url (also what sign_in returns) is the
    callback URL with the code and state. Returns the CallbackInterception, whose urls lists
    every URL refused so far."""
    release_callback(browser)
    browser.oidc_interception = CallbackInterception(browser, pattern)
    return browser.oidc_interception


def release_callback(browser):
    """Undoes intercept_callback (if any): the browser loads every URL again."""
    interception = getattr(browser, "oidc_interception", None)
    if interception is not None:
        browser.oidc_interception = None
        interception.close()


def query(url):
    """The query parameters of url as a dict of single values (e.g. code, state, iss)."""
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))

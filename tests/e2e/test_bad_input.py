#!/usr/bin/env python3
"""keel survives hostile input while real clients are connected.

With two clients joined and Running, the test throws malformed HTTP, broken /ts2021 upgrades and
handshakes, oversized bodies and headers, and malformed JSON at keel (TCP listener and admin unix
socket), while one idle half-sent request stays open the whole time. Each input must be refused
(a 4xx answer or a closed connection; never a hang or a 5xx for bad JSON). Afterwards keel must
still answer /health, list the same nodes, keep both clients Running and peered, and admit a
third client that both of them then see. A second keel started on the same config (so the same
database) refuses to start, saying another keel serves that database, and the first keeps serving.
"""

import base64
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BASE_DOMAIN, check, step, wait_until  # noqa: E402

READ_TIMEOUT_S = 10
MIB = 1 << 20


class Reply:
    """What a raw exchange produced: the HTTP status if one arrived, and whether keel closed."""

    def __init__(self, status, closed, raw):
        self.status = status
        self.closed = closed
        self.raw = raw

    def __repr__(self):
        return f"Reply(status={self.status}, closed={self.closed}, raw={self.raw[:120]!r})"


def _parse_status(buf):
    if not buf.startswith(b"HTTP/1."):
        return None
    try:
        return int(buf.split(b"\r\n", 1)[0].split(b" ")[1])
    except (IndexError, ValueError):
        return None


def _response_complete(buf):
    """True once headers and a Content-Length body (or no body) are in; 101 never completes."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep or _parse_status(buf) == 101:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return True
    return b"transfer-encoding" not in head.lower()


def exchange(h, data, unix=False, read_timeout=READ_TIMEOUT_S):
    """Sends data on a new connection and reads until a full response, EOF or the timeout."""
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(READ_TIMEOUT_S)
        s.connect(os.path.join(h.keel_dir, "keel.sock"))
    else:
        s = socket.create_connection(("127.0.0.1", h.keel_port), timeout=READ_TIMEOUT_S)
    buf = b""
    with s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # keel stopped reading early; its answer (if any) is still readable
        deadline = time.monotonic() + read_timeout
        while True:
            s.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return Reply(_parse_status(buf), False, buf)
            except ConnectionResetError:
                return Reply(_parse_status(buf), True, buf)
            if not chunk:
                return Reply(_parse_status(buf), True, buf)
            buf += chunk
            if _response_complete(buf):
                return Reply(_parse_status(buf), False, buf)


def request(method, path, headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def upgrade(handshake_header):
    headers = ["Connection: upgrade", "Upgrade: tailscale-control-protocol"]
    if handshake_header is not None:
        headers.append(f"X-Tailscale-Handshake: {handshake_header}")
    return request("POST", "/ts2021", headers)


def b64(raw):
    return base64.b64encode(raw).decode()


# Expectations ---------------------------------------------------------------------------------

def is_status(code):
    return (f"HTTP {code}", lambda r: r.status == code)


def refused():
    return ("a 4xx answer or a closed connection",
            lambda r: (r.status is not None and 400 <= r.status < 500)
            or (r.status is None and r.closed))


def dropped_after_upgrade():
    return ("400, or the connection closed (after a 101 or without an answer)",
            lambda r: r.status == 400 or (r.closed and r.status in (None, 101)))


def not_server_error():
    return ("an answer below 500 or a closed connection",
            lambda r: (r.status is not None and r.status < 500) or (r.status is None and r.closed))


def bad_initiation(version=145, msg_type=1, length=96, body=None):
    body = os.urandom(96) if body is None else body
    return version.to_bytes(2, "big") + bytes([msg_type]) + length.to_bytes(2, "big") + body


def cases():
    """(name, bytes, expectation, over unix socket)."""
    good_shape = bad_initiation()  # right header, random keys: the Noise decryption must fail
    return [
        ("garbage request", b"\x16\x03\x01\x02\x00\xff\xfe garbage \x00\r\n\r\n", refused(), False),
        ("HTTP/2 preface on the HTTP/1 port", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(64),
         refused(), False),
        ("/key with a non-numeric version", request("GET", "/key?v=abc"), is_status(400), False),
        ("/ts2021 without handshake header", upgrade(None), is_status(400), False),
        ("/ts2021 with bad base64", upgrade("!!!not*base64!!!"), is_status(400), False),
        ("/ts2021 with a 50-byte initiation", upgrade(b64(good_shape[:50])),
         dropped_after_upgrade(), False),
        ("/ts2021 with a wrong-type 101-byte initiation", upgrade(b64(bad_initiation(msg_type=7))),
         dropped_after_upgrade(), False),
        ("/ts2021 with a wrong-length 101-byte initiation",
         upgrade(b64(bad_initiation(version=0xffff, length=0x1234))), dropped_after_upgrade(),
         False),
        ("/ts2021 with an undecryptable initiation", upgrade(b64(good_shape)),
         dropped_after_upgrade(), False),
        ("garbage after a valid-looking upgrade", upgrade(b64(good_shape)) + os.urandom(4096),
         dropped_after_upgrade(), False),
        ("2 MiB body to /key", request("POST", "/key?v=145", body=b"x" * (2 * MIB)), refused(),
         False),
        ("2 MiB body to /ts2021", request("POST", "/ts2021", ["Upgrade: tailscale-control-protocol",
                                                               "Connection: upgrade"],
                                          body=b"x" * (2 * MIB)), refused(), False),
        ("256 KiB header", request("GET", "/health", [f"X-Big: {'a' * (256 * 1024)}"]), refused(),
         False),
        ("bad chunked encoding", b"POST /key HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Transfer-Encoding: chunked\r\n\r\nzz-not-hex\r\n\r\n", refused(), False),
        ("malformed JSON to the machine API", request("POST", "/machine/register",
                                                      ["Content-Type: application/json"],
                                                      b'{"Version": 1, "NodeKey": '),
         not_server_error(), False),
        ("malformed JSON to the admin API (user)", request("POST", "/api/v1/user",
                                                           ["Content-Type: application/json"],
                                                           b'{"name": "x'),
         not_server_error(), True),
        ("malformed JSON to the admin API (pre-auth key)",
         request("POST", "/api/v1/preauthkey", ["Content-Type: application/json"],
                 b'[{"user": 1, "reusable": tru'), not_server_error(), True),
        ("2 MiB body to the admin API", request("POST", "/api/v1/user",
                                                ["Content-Type: application/json"],
                                                b"[" * (2 * MIB)), refused(), True),
    ]


def fire_all(h):
    failures = []
    for name, data, (want, ok), unix in cases():
        reply = exchange(h, data, unix=unix)
        verdict = "ok" if ok(reply) else "FAIL"
        step(f"{verdict}: {name} -> status {reply.status}, closed {reply.closed}")
        if not ok(reply):
            failures.append(f"{name}: wanted {want}, got {reply!r}")
        check(h.keel_proc.alive(), f"keel died after: {name}")
    return failures


def churn(h, count=100):
    """Opens and drops many connections at once, some mid-request."""
    socks = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", h.keel_port), timeout=5)
        if i % 2:
            s.sendall(b"GET /health HTTP/1.1\r\nHo")
        socks.append(s)
    for s in socks:
        s.close()


def node_summary(h):
    return {name: (n.get("id"), n.get("user"), sorted(n.get("ipAddresses") or []))
            for name, n in h.nodes().items()}


def test(h, args):
    h.start_keel()
    key = h.join_pair("carol")
    before = node_summary(h)

    # A request that never finishes must not hold anything up.
    idle = socket.create_connection(("127.0.0.1", h.keel_port), timeout=5)
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    failures = fire_all(h)
    churn(h)
    check(h.keel_proc.alive(), "keel died after connection churn")
    check(h.health() == 200, "GET /health is not 200 while a half-sent request is open")
    idle.close()
    check(not failures, "keel mishandled bad input:\n  " + "\n  ".join(failures))

    step("a second keel on the same database refuses to start")
    second = subprocess.run([h.keel_bin, "--config", h.config_path, "serve"], capture_output=True,
                            text=True, timeout=30, env=h._env("keel2"))
    check(second.returncode != 0 and "is serving the database" in second.stderr,
          f"a second keel on the same database should refuse to start; exit {second.returncode}: "
          f"{second.stderr.strip()[-400:]}")

    step("keel and the clients are still fine")
    check(node_summary(h) == before, f"nodes changed: {before} -> {node_summary(h)}")
    for n in (1, 2):
        check(h.backend_state(n) == "Running", f"client {n} is no longer Running")
    check(h.peer_dns_names(1) == {f"node2.{BASE_DOMAIN}."}, "client 1 lost its peer")
    check(h.peer_dns_names(2) == {f"node1.{BASE_DOMAIN}."}, "client 2 lost its peer")

    step("a third client still joins and both others see it")
    h.start_tailscaled(3)
    h.up(3, key, "node3")
    h.wait_running(3)
    for n in (1, 2):
        want = {f"node{m}.{BASE_DOMAIN}." for m in (1, 2, 3) if m != n}
        wait_until(lambda n=n, want=want: h.peer_dns_names(n) == want, 30,
                   f"client {n} to see {sorted(want)}")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

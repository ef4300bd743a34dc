#!/usr/bin/env python3
"""TLS on keel's control listener (tls_cert_path / tls_key_path), as real clients use it.

keel serves listen_addr over TLS only, with a certificate for 127.0.0.1 that the clients trust
through SSL_CERT_FILE; server_url is https://. Two clients join through it (the Noise upgrade
inside TLS), stay Running and reach each other. Plain HTTP and garbage on the TLS port get no
answer and disturb no one. The remote CLI talks to the same listener with an API key and
refuses a certificate it does not trust unless told --insecure.
"""

import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402


def plain_request_gets_no_http_answer(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    check(not got.startswith(b"HTTP/"), f"plain HTTP on the TLS port was answered: {got[:80]!r}")


def garbage_is_dropped(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\xff\xff" + os.urandom(8192))
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass


def ping(h, src, ip):
    r = h.tailscale(src, "ping", "--timeout", "5s", "-c", "10", ip, timeout=90)
    check(r.returncode == 0 and "pong from" in r.stdout,
          f"client {src}: tailscale ping {ip} failed:\n{r.stdout}\n{r.stderr}")


def remote_cli(h, key, env, *args):
    argv = [h.keel_bin, "--config", h.config_path, "--remote", h.server_url, "--api-key", key,
            *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env, cwd=h.tmp)


def test(h, args):
    h.serve_control_over_tls()
    h.start_keel()
    with open(os.path.join(h.tmp, "keel.log")) as f:
        log = f.read()
    check(f"listening on 127.0.0.1:{h.keel_port} (TLS)" in log,
          "keel's log does not say the control listener is TLS")
    check(f"keel listening on https://127.0.0.1:{h.keel_port}" in log,
          "keel's log does not announce https://")

    step("plain HTTP on the TLS port gets no HTTP answer")
    plain_request_gets_no_http_answer(h.keel_port)

    step("two clients join through https:// and see each other")
    h.join_pair("alice")
    ip1, ip2 = h.tailscale_ipv4(1), h.tailscale_ipv4(2)
    ping(h, 1, ip2)
    ping(h, 2, ip1)

    step("garbage and plain HTTP on the TLS port while the clients run")
    garbage_is_dropped(h.keel_port)
    plain_request_gets_no_http_answer(h.keel_port)
    check(h.health() == 200, "keel stopped answering /health over TLS")
    for n in (1, 2):
        check(h.backend_state(n) == "Running", f"client {n} left Running")
    ping(h, 1, ip2)

    step("the remote CLI over TLS, with an API key")
    key = h.keel_cli("apikeys", "create", "-e", "1h").strip().splitlines()[-1]
    trusted = h._env("remote-cli")
    r = remote_cli(h, key, trusted, "nodes", "list", "-o", "json")
    check(r.returncode == 0, f"remote nodes list failed: {r.stderr}")
    names = {n["givenName"] for n in json.loads(r.stdout)}
    check(names == {"node1", "node2"}, f"remote nodes list: {sorted(names)}")
    untrusted = dict(trusted, SSL_CERT_FILE=os.path.join(h.tmp, "no-such-bundle.pem"))
    r = remote_cli(h, key, untrusted, "users", "list")
    check(r.returncode != 0 and "--insecure" in r.stderr,
          f"an untrusted certificate was not refused clearly (exit {r.returncode}): {r.stderr}")
    r = remote_cli(h, key, untrusted, "--insecure", "users", "list", "-o", "json")
    check(r.returncode == 0 and "alice" in r.stdout, f"--insecure did not connect: {r.stderr}")

    step("keel restarts; the clients come back over TLS without logging in again")
    h.restart_keel()
    # The restarted keel knows a node online only once its map stream is back.
    wait_until(lambda: all(n.get("online") for n in h.nodes().values()), 60,
               "both clients' map streams to come back to the restarted keel")
    ping(h, 1, ip2)


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__))

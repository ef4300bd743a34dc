#!/usr/bin/env python3
"""Two real clients talk only through keel's embedded DERP relay, which also survives bad input.

Both clients run with TS_DEBUG_ALWAYS_USE_DERP=1 (no direct path). Checks:
  ping      `tailscale ping --until-direct=false -c 3` says "via DERP(keel)".
  transfer  10 MiB each way over one TCP connection through the tailnet (`tailscale nc` to a
            server behind the peer's tailscaled): the SHA-256 matches on both ends, and the peer
            still has no direct address afterwards.
  netcheck  `tailscale netcheck` reports UDP, an IPv4 STUN mapping on 127.0.0.1 and a latency
            for region "keel".
  bad input raw TLS connections to the relay sending garbage after the upgrade, an oversized
            frame, frames before ClientInfo, a ClientInfo box that does not open and a key keel
            does not know (verify_clients, logged as rejected) are each closed within
            CLOSE_WITHIN_S and never get a ServerInfo; junk UDP to the STUN port goes unanswered
            while a real binding request still is. Meanwhile pings keep going via DERP(keel);
            afterwards a ping still does, netcheck still gets STUN and keel still runs.
"""

import ctypes
import ctypes.util
import hashlib
import json
import os
import re
import secrets
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BASE_DOMAIN, DERP_REGION_CODE, check, step, wait_until  # noqa: E402

DERP_ONLY = {"TS_DEBUG_ALWAYS_USE_DERP": "1"}
VIA_DERP = f"via DERP({DERP_REGION_CODE})"
TRANSFER_BYTES = 10 * (1 << 20)
TRANSFER_TIMEOUT_S = 180
CLOSE_WITHIN_S = 5  # the relay's handshake timeout is 10 s: a close sooner is a deliberate one
DERP_MAGIC = b"DERP\xf0\x9f\x94\x91"
FRAME_SERVER_KEY, FRAME_CLIENT_INFO, FRAME_SERVER_INFO = 0x01, 0x02, 0x03
FRAME_SEND_PACKET, FRAME_PING = 0x04, 0x12
STUN_COOKIE = 0x2112A442


# --- the TCP server behind client 2 -----------------------------------------------------------

class TransferServer(harness.LoopbackTcpServer):
    """Listens on 127.0.0.1:port, where client 2's tailscaled forwards tailnet TCP.

    The first byte picks the direction: b"U" reads TRANSFER_BYTES and answers their SHA-256 in
    hex plus a newline; b"D" sends TRANSFER_BYTES of random data and keeps their SHA-256 in
    sent_digest. Either way the connection stays open until the other side closes it, because
    `tailscale nc` exits (closing both directions) as soon as its stdin ends.
    """

    def __init__(self):
        self.sent_digest = None
        self.errors = []
        super().__init__(backlog=4)

    def serve(self, conn):
        try:
            with conn:
                mode = conn.recv(1)
                if mode == b"U":
                    digest, left = hashlib.sha256(), TRANSFER_BYTES
                    while left:
                        chunk = conn.recv(min(left, 1 << 16))
                        if not chunk:
                            raise OSError(f"upload ended {left} bytes short")
                        digest.update(chunk)
                        left -= len(chunk)
                    conn.sendall(digest.hexdigest().encode() + b"\n")
                elif mode == b"D":
                    data = secrets.token_bytes(TRANSFER_BYTES)
                    self.sent_digest = hashlib.sha256(data).hexdigest()
                    conn.sendall(data)
                while conn.recv(1 << 16):
                    pass
        except OSError as e:
            self.errors.append(f"{type(e).__name__}: {e}")

    def close(self):
        self.sock.close()


def nc_exchange(h, n, peer_ip, port, send, want_bytes):
    """Runs `tailscale nc peer_ip port` on client n: writes send to it, reads exactly want_bytes
    of its output, then closes its stdin. Returns what was read."""
    proc = h.tailscale_popen(n, "nc", peer_ip, str(port))
    writer_error = []

    def write():
        try:
            proc.stdin.write(send)
            proc.stdin.flush()
        except OSError as e:
            writer_error.append(e)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    timer = threading.Timer(TRANSFER_TIMEOUT_S, proc.kill)
    timer.start()
    got = bytearray()
    try:
        while len(got) < want_bytes:
            chunk = proc.stdout.read1(want_bytes - len(got))
            if not chunk:
                break
            got += chunk
    finally:
        timer.cancel()
        writer.join(5)
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err = proc.stderr.read().decode("utf-8", "replace")
    check(len(got) == want_bytes,
          f"`tailscale nc` on client {n} gave {len(got)} of {want_bytes} bytes "
          f"(exit {proc.returncode}, stderr: {err.strip()!r}, writer: {writer_error})")
    return bytes(got)


# --- DERP over raw TLS ------------------------------------------------------------------------

def frame(ftype, payload):
    return struct.pack(">BI", ftype, len(payload)) + payload


class RawDerp:
    """One TLS connection to the relay, upgraded to DERP, that reads the ServerKey frame."""

    UPGRADE = (b"GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: DERP\r\n"
               b"Connection: Upgrade\r\n\r\n")

    def __init__(self, port, upgrade=True):
        raw = socket.create_connection(("127.0.0.1", port), timeout=CLOSE_WITHIN_S)
        self.sock = harness.insecure_tls_context().wrap_socket(raw, server_hostname="127.0.0.1")
        self.buf = b""
        self.server_key = None
        if upgrade:
            self.sock.sendall(self.UPGRADE)
            head = self._read_until(b"\r\n\r\n")
            check(head.startswith(b"HTTP/1.1 101"), f"/derp upgrade answered {head[:80]!r}")
            ftype, payload = self.read_frame()
            check(ftype == FRAME_SERVER_KEY and payload[:8] == DERP_MAGIC and len(payload) >= 40,
                  f"first DERP frame is type {ftype} ({payload[:16]!r}), not ServerKey")
            self.server_key = payload[8:40]

    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(4096)
            check(chunk, f"relay closed before {marker!r} (got {self.buf[:80]!r})")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            check(chunk, "relay closed mid-frame")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        ftype, length = struct.unpack(">BI", self._read_exact(5))
        return ftype, self._read_exact(length)

    def expect_closed(self, what):
        """The relay must close within CLOSE_WITHIN_S without sending ServerInfo."""
        started = time.monotonic()
        data = self.buf
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ssl.SSLError, ConnectionError):
            pass  # an abrupt close is still a close
        except socket.timeout:
            raise harness.TestFailure(f"{what}: relay kept the connection open "
                                      f"{CLOSE_WITHIN_S}s") from None
        finally:
            self.sock.close()
        elapsed = time.monotonic() - started
        check(elapsed < CLOSE_WITHIN_S, f"{what}: closed only after {elapsed:.1f}s")
        check(not _has_server_info(data), f"{what}: relay sent ServerInfo (admitted the client)")

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (ssl.SSLError, ConnectionError):
            pass  # closed while we were still writing: expect_closed will see it


def _has_server_info(data):
    while len(data) >= 5:
        ftype, length = struct.unpack(">BI", data[:5])
        if ftype == FRAME_SERVER_INFO:
            return True
        data = data[5 + length:]
    return False


class Sodium:
    """crypto_box from the system's libsodium, to seal a ClientInfo as a real client would."""

    def __init__(self):
        name = ctypes.util.find_library("sodium") or "libsodium.so.23"
        self.lib = ctypes.CDLL(name)
        check(self.lib.sodium_init() >= 0, "sodium_init failed")

    def keypair(self):
        pk, sk = ctypes.create_string_buffer(32), ctypes.create_string_buffer(32)
        check(self.lib.crypto_box_keypair(pk, sk) == 0, "crypto_box_keypair failed")
        return pk.raw, sk.raw

    def seal(self, msg, nonce, their_pk, my_sk):
        out = ctypes.create_string_buffer(len(msg) + 16)
        rc = self.lib.crypto_box_easy(out, msg, ctypes.c_ulonglong(len(msg)), nonce, their_pk,
                                      my_sk)
        check(rc == 0, "crypto_box_easy failed")
        return out.raw


def derp_bad_input(h):
    port = h.derp_port
    garbage = b"GARBAGE!" * 512

    step("relay: garbage after the upgrade")
    c = RawDerp(port)
    c.send(garbage)
    c.expect_closed("garbage after upgrade")

    step("relay: oversized frame (ClientInfo header claiming 2 GiB)")
    c = RawDerp(port)
    c.send(struct.pack(">BI", FRAME_CLIENT_INFO, 0x7FFFFFFF) + b"\0" * 1024)
    c.expect_closed("oversized frame")

    step("relay: 300 KiB unknown frame (over the 256 KiB limit), actually sent")
    c = RawDerp(port)
    c.send(frame(0x7F, b"\0" * (300 * 1024)))
    c.expect_closed("300 KiB frame")

    step("relay: frames before ClientInfo")
    for name, f in (("SendPacket", frame(FRAME_SEND_PACKET, b"\1" * 32 + b"hello")),
                    ("Ping", frame(FRAME_PING, b"12345678"))):
        c = RawDerp(port)
        c.send(f)
        c.expect_closed(f"{name} before ClientInfo")

    step("relay: ClientInfo too short, and one whose box does not open")
    c = RawDerp(port)
    c.send(frame(FRAME_CLIENT_INFO, b"\2" * 40))
    c.expect_closed("short ClientInfo")
    c = RawDerp(port)
    c.send(frame(FRAME_CLIENT_INFO, secrets.token_bytes(32 + 24 + 64)))
    c.expect_closed("ClientInfo box that does not open")

    step("relay: a well-formed ClientInfo from a node key keel does not know")
    sodium = Sodium()
    pk, sk = sodium.keypair()
    c = RawDerp(port)
    nonce = secrets.token_bytes(24)
    sealed = sodium.seal(json.dumps({"version": 2}).encode(), nonce, c.server_key, sk)
    c.send(frame(FRAME_CLIENT_INFO, pk + nonce + sealed))
    c.expect_closed("unknown client key")
    wait_until(lambda: any("rejected" in line and pk.hex() in line
                           for line in h.keel_proc.tail(10**6)),
               5, f"keel to log that it rejected nodekey:{pk.hex()}")

    step("relay: not TLS at all, and a TLS request that is not an upgrade")
    with socket.create_connection(("127.0.0.1", port), timeout=CLOSE_WITHIN_S) as s:
        s.sendall(b"GET /derp HTTP/1.1\r\nHost: x\r\n\r\n" + garbage)
        try:
            while s.recv(4096):
                pass
        except ConnectionError:
            pass
        except socket.timeout:
            raise harness.TestFailure("plain-text bytes on the TLS port: not closed") from None
    c = RawDerp(port, upgrade=False)
    c.send(b"GET /derp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = c._read_until(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 426"), f"/derp without upgrade answered {head[:60]!r}")
    check(h.keel_proc.alive(), "keel died during DERP bad input")


# --- STUN -------------------------------------------------------------------------------------

def stun_request(txid, fingerprint_xor=0x5354554E):
    """A binding request as Tailscale sends it: SOFTWARE "tailnode", then FINGERPRINT."""
    software = struct.pack(">HH", 0x8022, 8) + b"tailnode"
    head = struct.pack(">HHI", 0x0001, len(software) + 8, STUN_COOKIE) + txid
    crc = zlib.crc32(head + software) ^ fingerprint_xor
    return head + software + struct.pack(">HHI", 0x8028, 4, crc)


def stun_answers(port, payload, timeout=2.0):
    """Sends one datagram; returns the reply or None when nothing comes back in time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, ("127.0.0.1", port))
        try:
            return s.recvfrom(65536)[0]
        except socket.timeout:
            return None


def stun_bad_input(h):
    port = h.stun_port
    txid = secrets.token_bytes(12)
    junk = {
        "empty datagram": b"",
        "one byte": b"\0",
        "random 1000 bytes": secrets.token_bytes(1000),
        "bare binding request (no SOFTWARE, no FINGERPRINT)":
            struct.pack(">HHI", 1, 0, STUN_COOKIE) + txid,
        "binding request with the wrong cookie":
            stun_request(txid)[:4] + b"\xde\xad\xbe\xef" + stun_request(txid)[8:],
        "binding request with a bad FINGERPRINT": stun_request(txid, fingerprint_xor=0),
        "binding request cut short": stun_request(txid)[:15],
        "binding request missing its last byte": stun_request(txid)[:-1],
        "binding request claiming a 400-byte body": struct.pack(">HHI", 1, 400, STUN_COOKIE)
                                                    + txid,
        "60000-byte datagram": b"\xff" * 60000,
    }
    step(f"STUN: {len(junk)} kinds of junk")
    for name, payload in junk.items():
        reply = stun_answers(port, payload, timeout=0.5)
        check(reply is None, f"STUN answered junk ({name}): {(reply or b'')[:40]!r}")
    reply = stun_answers(port, stun_request(txid))
    check(reply is not None, "STUN no longer answers a real binding request after the junk")
    check(len(reply) >= 20 and reply[:2] == b"\x01\x01" and reply[8:20] == txid,
          f"STUN reply is not a binding success for our transaction: {reply[:40]!r}")


# --- checks with the clients ------------------------------------------------------------------

def ping_via_derp(h, n, peer_ip, count=3):
    r = h.tailscale(n, "ping", "--until-direct=false", "-c", str(count), peer_ip, timeout=60)
    out = r.stdout + r.stderr
    check(r.returncode == 0 and VIA_DERP in out,
          f"client {n}: `tailscale ping` to {peer_ip} (exit {r.returncode}) did not go "
          f"{VIA_DERP}:\n{out}")
    return out


def transfer(h, server, peer_ip):
    data = secrets.token_bytes(TRANSFER_BYTES)
    step(f"upload {TRANSFER_BYTES} bytes from client 1 to client 2 over `tailscale nc`")
    started = time.monotonic()
    answer = nc_exchange(h, 1, peer_ip, server.port, b"U" + data, 65)
    took = time.monotonic() - started
    want = hashlib.sha256(data).hexdigest()
    check(answer.decode(errors="replace").strip() == want,
          f"upload: server hashed {answer!r}, sent {want}")
    step(f"upload ok in {took:.1f}s; download {TRANSFER_BYTES} bytes from client 2")
    started = time.monotonic()
    got = nc_exchange(h, 1, peer_ip, server.port, b"D", TRANSFER_BYTES)
    took = time.monotonic() - started
    check(hashlib.sha256(got).hexdigest() == server.sent_digest,
          "download: SHA-256 of what arrived differs from what the server sent")
    step(f"download ok in {took:.1f}s")
    check(not server.errors, f"transfer server errors: {server.errors}")


def direct_addresses(h, n):
    """CurAddr of every peer of client n; empty strings while they talk via DERP only."""
    return {p.get("DNSName"): p.get("CurAddr", "") for p in
            (h.status(n).get("Peer") or {}).values()}


def netcheck(h, n):
    r = h.tailscale(n, "netcheck", timeout=90)
    out = r.stdout
    check(r.returncode == 0, f"`tailscale netcheck` exited {r.returncode}: {r.stderr}")
    check(re.search(r"UDP:\s*true", out), f"netcheck has no working UDP (STUN):\n{out}")
    check(re.search(r"IPv4:\s*yes,\s*127\.0\.0\.1:\d+", out),
          f"netcheck got no IPv4 STUN mapping on 127.0.0.1:\n{out}")
    check(re.search(rf"-\s*{DERP_REGION_CODE}:\s*[\d.]+\s*(µs|us|ms|s)\b", out),
          f"netcheck lists no latency for region {DERP_REGION_CODE}:\n{out}")
    return out


class PingLoop:
    """Pings client 2 from client 1 via DERP again and again in the background."""

    def __init__(self, h, peer_ip):
        self.h, self.peer_ip = h, peer_ip
        self.results = []  # (ok, output)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            r = self.h.tailscale(1, "ping", "--until-direct=false", "-c", "1", self.peer_ip,
                                 timeout=30)
            self.results.append((r.returncode == 0 and VIA_DERP in r.stdout, r.stdout + r.stderr))
            self.stop.wait(0.2)

    def finish(self):
        self.stop.set()
        self.thread.join(60)
        return self.results


def test(h, args):
    h.start_keel()
    h.join_pair("dave", env=DERP_ONLY)
    for n in (1, 2):
        h.wait_derp_connected(n)
    ip1, ip2 = h.tailscale_ipv4(1), h.tailscale_ipv4(2)

    step(f"ping {ip2} from client 1 and {ip1} from client 2, via DERP")
    wait_until(lambda: ping_via_derp(h, 1, ip2), 60, f"client 1 to ping {ip2} {VIA_DERP}",
               interval=1)
    print(ping_via_derp(h, 2, ip1), flush=True)

    server = TransferServer()
    try:
        transfer(h, server, ip2)
    finally:
        server.close()
    direct = direct_addresses(h, 1)
    check(not any(direct.values()), f"client 1 found a direct path after all: {direct}")

    step("netcheck on client 1")
    print(netcheck(h, 1), flush=True)

    step("bad input at the relay and STUN while client 1 keeps pinging client 2")
    loop = PingLoop(h, ip2)
    try:
        derp_bad_input(h)
        stun_bad_input(h)
    finally:
        results = loop.finish()
    bad = [out for ok, out in results if not ok]
    check(results and not bad, f"{len(bad)} of {len(results)} background pings failed "
                               f"during the bad input, first: {bad[:1]}")
    step(f"{len(results)} background pings all went {VIA_DERP}")

    step("afterwards: ping via DERP and netcheck with STUN still work")
    ping_via_derp(h, 1, ip2)
    ping_via_derp(h, 2, ip1)
    netcheck(h, 2)
    check(h.keel_proc.alive(), "keel died")
    for n in (1, 2):
        check(h.backend_state(n) == "Running", f"client {n} is no longer Running")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

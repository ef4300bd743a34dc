"""A loopback TCP proxy in front of keel that can hide keel's Noise key from GET /key.

With strip on, /key answers carry an all-zero publicKey, so a v1.24-v1.62 client falls back to
TS2019 against keel's real legacy endpoints. Every other connection (TS2019 requests, or the
/ts2021 upgrade once strip is off) is spliced to keel byte for byte.
"""

import json
import socket
import threading
import urllib.request

from harness import LoopbackTcpServer

ZERO_KEY = "mkey:" + "0" * 64


class KeyProxy(LoopbackTcpServer):
    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.strip = True
        self.key_requests = 0
        super().__init__(backlog=64)
        self.url = f"http://127.0.0.1:{self.port}"

    def serve(self, conn):
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            if head.startswith(b"GET /key") and self.strip:
                self._answer_key(conn, head)
            else:
                self._splice(conn, head)

    def _answer_key(self, conn, head):
        target = head.split(b" ", 2)[1].decode()
        self.key_requests += 1
        with urllib.request.urlopen(f"http://127.0.0.1:{self.upstream_port}{target}", timeout=10) as r:
            keys = json.loads(r.read())
        keys["publicKey"] = ZERO_KEY
        body = json.dumps(keys).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    def _splice(self, conn, head):
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        except OSError:
            return
        up.settimeout(None)
        with up:
            up.sendall(head)

            def pump(src, dst):
                try:
                    while True:
                        data = src.recv(65536)
                        if not data:
                            break
                        dst.sendall(data)
                except OSError:
                    pass
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            t = threading.Thread(target=pump, args=(up, conn), daemon=True)
            t.start()
            pump(conn, up)
            t.join()

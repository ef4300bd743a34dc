"""End-to-end harness: a real keel (with its embedded DERP relay) and real tailscaled clients.

Each test script calls `run(test_fn)`. It parses --keel and --ts-dir, makes sure it runs inside
a loopback-only network namespace (ctest starts it under `unshare -n`), builds a Harness with a
fresh temporary directory, runs the test and always stops every process it started. On failure
it prints the last lines of every process log.

Python 3 standard library only. Processes are started with PR_SET_PDEATHSIG so they die with the
test even when ctest kills it on a timeout.
"""

import argparse
import ctypes
import json
import os
import select
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

BASE_DOMAIN = "e2e.keel.test"
DERP_REGION = 999  # keel's embedded relay (derp.server.region_id default)
DERP_REGION_CODE = "keel"
DERP_HOSTNAME = "derp.e2e.keel.test"  # only with --derp-operator-cert; never resolved (IPv4 set)
LOG_TAIL_LINES = 80


class TestFailure(Exception):
    """An assertion about keel or the clients did not hold."""


class ServiceDied(TestFailure):
    """keel exited on its own; waiting any longer is pointless."""


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def wait_until(predicate, timeout, msg, interval=0.25):
    """Polls predicate() until it returns a truthy value, which is returned.

    Exceptions raised by predicate count as "not yet"; the last one is reported on timeout.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = f"last value: {value!r}"
        except ServiceDied:
            raise
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = f"last error: {type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for: {msg} ({last})")
        time.sleep(interval)


# --- network namespace guard ------------------------------------------------------------------

def _sh(*args):
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


# Tailscale clients before v1.90 (e.g. v1.80) decide "network up" only from a non-loopback
# address on an interface that is up, and their magicsock has no TS_ASSUME_NETWORK_UP_FOR_TEST
# knob: with only 127.0.0.1 they never dial DERP and never reach Running. For those tests the
# harness adds one address from TEST-NET-1 (RFC 5737: documentation only, never routed) to
# the loopback device of the test's private namespace. There is still no other interface and
# no route: anything sent to it is looped back inside the namespace and cannot leave it.
NETMON_LO_ADDRESS = "192.0.2.1/32"


def enter_isolated_network(netmon_lo_address=False):
    """Refuses to go on unless this is a loopback-only network namespace, then brings lo up."""
    try:
        same = os.stat("/proc/self/ns/net").st_ino == os.stat("/proc/1/ns/net").st_ino
    except OSError:
        same = False  # cannot see pid 1's namespace: decide on the interfaces alone
    if same:
        sys.exit("refusing to run: not in a private network namespace (start under `unshare -n`)")
    for line in _sh("ip", "-o", "link", "show").stdout.splitlines():
        # "1: lo: <LOOPBACK,UP,LOWER_UP> mtu ..."
        fields = line.split(":", 2)
        if len(fields) < 3:
            continue
        name = fields[1].strip().split("@")[0]
        flags = fields[2].strip().lstrip("<").split(">")[0].split(",")
        if name != "lo" and "UP" in flags:
            sys.exit(f"refusing to run: interface {name} is up; need a loopback-only namespace")
    for family in ("-4", "-6"):
        routes = _sh("ip", family, "route", "show", "default").stdout.strip()
        if routes:
            sys.exit(f"refusing to run: there is a default route ({routes})")
    r = _sh("ip", "link", "set", "lo", "up")
    if r.returncode != 0:
        sys.exit(f"refusing to run: cannot bring lo up: {r.stderr.strip()}")
    if netmon_lo_address:
        r = _sh("ip", "addr", "add", NETMON_LO_ADDRESS, "dev", "lo")
        if r.returncode != 0:
            sys.exit(f"cannot add {NETMON_LO_ADDRESS} to lo: {r.stderr.strip()}")


# --- processes --------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Proc:
    """A child process whose stdout and stderr go to a log file."""

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.stopped = False  # set when the harness stops it on purpose
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                      preexec_fn=_die_with_parent)

    def alive(self):
        return self.popen.poll() is None

    def state(self):
        code = self.popen.poll()
        return "running" if code is None else f"exited with {code}"

    def stop(self, sig=signal.SIGTERM, grace=10.0):
        self.stopped = True
        if self.alive():
            self.popen.send_signal(sig)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()

    def tail(self, n=LOG_TAIL_LINES):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError as e:
            return [f"<cannot read {self.log_path}: {e}>"]
        return lines[-n:]


class LoopbackTcpServer:
    """A TCP listener on 127.0.0.1 serving each connection on a thread of its own.

    Subclasses define serve(conn) and set their own attributes before calling __init__, which
    starts accepting at once.
    """

    def __init__(self, backlog=16):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        raise NotImplementedError


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def insecure_tls_context():
    """For probing keel's relay, whose self-signed certificate only the DERP map pins."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_get(url, timeout=5.0):
    """Returns (status, body) without raising on HTTP error statuses (https: unverified)."""
    ctx = insecure_tls_context() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# --- the harness ------------------------------------------------------------------------------

def keel_config_yaml(d, http_port, derp_yaml, metrics_port=None):
    """A keel config keeping all its state under directory d, serving 127.0.0.1:http_port
    (and /metrics on metrics_port, a free one when not given)."""
    return f"""server_url: http://127.0.0.1:{http_port}
listen_addr: 127.0.0.1:{http_port}
metrics_listen_addr: 127.0.0.1:{metrics_port or free_port()}
unix_socket: {d}/keel.sock
private_key_path: {d}/private.key
noise:
  private_key_path: {d}/noise_private.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
database:
  type: sqlite
  sqlite:
    path: {d}/db.sqlite
dns:
  magic_dns: true
  base_domain: {BASE_DOMAIN}
{derp_yaml}log:
  level: debug
"""


def embedded_derp_yaml(d, derp_port, stun_port, extra=""):
    """The derp: section enabling keel's own relay; `extra` adds lines under derp.server."""
    return f"""derp:
  server:
    enabled: true
    private_key_path: {d}/derp_server_private.key
    listen_addr: 127.0.0.1:{derp_port}
    stun_listen_addr: 127.0.0.1:{stun_port}
""" + extra


class Harness:
    """One keel (control server plus its DERP relay and STUN) and numbered tailscaled clients
    in a private temporary directory.

    The relay gets fixed ports chosen here, so a restarted keel pushes the same DERP map. By
    default keel serves it with its self-signed certificate, pinned in the DERP map (CertName
    "sha256-raw:..."). With derp_operator_cert, keel instead uses a certificate the harness
    makes for DERP_HOSTNAME and the clients trust through SSL_CERT_FILE: clients before the pin
    existed (e.g. v1.80) only verify a DERP certificate by name.
    """

    def __init__(self, keel, ts_dir, name, derp_operator_cert=False):
        self.keel_bin = os.path.abspath(keel)
        self.ts_dir = os.path.abspath(ts_dir)
        for tool in ("tailscale", "tailscaled"):
            path = os.path.join(self.ts_dir, tool)
            if not os.access(path, os.X_OK):
                raise TestFailure(f"{path} missing; run scripts/install-tailscale.sh VERSION")
        check(os.access(self.keel_bin, os.X_OK), f"keel binary {self.keel_bin} missing")
        self.tmp = tempfile.mkdtemp(prefix=f"keel-e2e-{name}-")
        self.procs = []
        self.keel_proc = None
        self.clients = {}  # n -> Proc
        self.client_env = {}  # n -> extra environment for its tailscaled and CLI
        self.client_ts_dir = {}  # n -> binaries of another release than ts_dir
        self.keel_port = free_port()
        self.metrics_port = free_port()
        self.derp_port = free_port()
        self.stun_port = free_port(socket.SOCK_DGRAM)
        self.keel_dir = os.path.join(self.tmp, "keel")
        os.makedirs(self.keel_dir)
        self.config_path = os.path.join(self.keel_dir, "config.yaml")
        self.server_url = f"http://127.0.0.1:{self.keel_port}"
        self.derp_map_file = None  # set to serve a DERP map file instead of the embedded relay
        self.extra_config = ""  # YAML appended to keel's config (top-level keys)
        self.derp_cert_path = None
        self.control_cert_path = None  # set by serve_control_over_tls
        if derp_operator_cert:
            self.derp_cert_path, self.derp_key_path = self._make_derp_cert()

    def _start(self, name, argv, env=None):
        log_path = os.path.join(self.tmp, f"{name}.log")
        proc = Proc(name, argv, log_path, env=env, cwd=self.tmp)
        self.procs.append(proc)
        return proc

    def check_services(self):
        """Raises ServiceDied if keel exited without the test stopping it."""
        proc = self.keel_proc
        if proc is not None and not proc.stopped and not proc.alive():
            raise ServiceDied(f"{proc.name} {proc.state()}")

    # keel's DERP relay -----------------------------------------------------------------------

    def derp_url(self, path="/derp"):
        return f"https://127.0.0.1:{self.derp_port}{path}"

    def derp_probe(self):
        return http_get(self.derp_url("/derp/probe"))[0]

    def _make_cert(self, name, cn, san):
        """A self-signed certificate (openssl CLI); returns (cert, key) paths."""
        cert = os.path.join(self.tmp, f"{name}-cert.pem")
        key = os.path.join(self.tmp, f"{name}-key.pem")
        r = _sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                "-days", "2", "-subj", f"/CN={cn}", "-addext", f"subjectAltName={san}")
        check(r.returncode == 0, f"openssl req failed: {r.stderr.strip()}")
        return cert, key

    def _make_derp_cert(self):
        return self._make_cert("derp", DERP_HOSTNAME, f"DNS:{DERP_HOSTNAME}")

    def serve_control_over_tls(self):
        """Before start_keel: keel serves listen_addr over TLS (tls_cert_path/tls_key_path)
        with a certificate for 127.0.0.1 that clients and the CLI trust through SSL_CERT_FILE,
        and server_url becomes https://."""
        self.control_cert_path, key = self._make_cert("control", "127.0.0.1", "IP:127.0.0.1")
        self.server_url = f"https://127.0.0.1:{self.keel_port}"
        self.extra_config += f"tls_cert_path: {self.control_cert_path}\ntls_key_path: {key}\n"

    def trusted_certs(self):
        """The file SSL_CERT_FILE names: every certificate the harness made, or None."""
        certs = [c for c in (self.derp_cert_path, self.control_cert_path) if c]
        if len(certs) < 2:
            return certs[0] if certs else None
        bundle = os.path.join(self.tmp, "trusted.pem")
        with open(bundle, "w") as out:
            for c in certs:
                with open(c) as f:
                    out.write(f.read())
        return bundle

    def _derp_config(self):
        if self.derp_map_file:
            return f"""derp:
  paths:
    - {self.derp_map_file}
  server:
    enabled: false
"""
        extra = ""
        if self.derp_cert_path:
            extra = f"""    hostname: {DERP_HOSTNAME}
    ipv4: 127.0.0.1
    tls_cert_path: {self.derp_cert_path}
    tls_key_path: {self.derp_key_path}
"""
        return embedded_derp_yaml(self.keel_dir, self.derp_port, self.stun_port, extra)

    # keel ------------------------------------------------------------------------------------

    def write_config(self):
        with open(self.config_path, "w") as f:
            text = keel_config_yaml(self.keel_dir, self.keel_port, self._derp_config(),
                                    self.metrics_port)
            f.write(text.replace(f"server_url: http://127.0.0.1:{self.keel_port}",
                                 f"server_url: {self.server_url}", 1))
            f.write(self.extra_config)

    def start_keel(self):
        if not os.path.exists(self.config_path):
            self.write_config()
        # KEEL_E2E_WRAPPER runs the server under a tool, e.g. "gdb -batch -ex run -ex bt --args".
        wrapper = shlex.split(os.environ.get("KEEL_E2E_WRAPPER", ""))
        argv = [*wrapper, self.keel_bin, "--config", self.config_path, "serve"]
        self.keel_proc = self._start("keel", argv, env=self._env("keel"))
        wait_until(lambda: self._expect_alive(self.keel_proc) and self.health() == 200,
                   30, "keel to answer GET /health with 200")
        if not self.derp_map_file:
            wait_until(lambda: self._expect_alive(self.keel_proc) and self.derp_probe() == 200,
                       30, "keel's DERP relay to answer /derp/probe over TLS")

    def stop_keel(self, sig=signal.SIGTERM):
        self.keel_proc.stop(sig)

    def restart_keel(self, sig=signal.SIGTERM):
        self.stop_keel(sig)
        self.start_keel()

    def metrics(self):
        """keel's /metrics, read with Prometheus' own text-format parser: {(name, labels): value}
        with labels a sorted tuple of (name, value) pairs."""
        from prometheus_client.parser import text_string_to_metric_families
        status, body = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        check(status == 200, f"GET /metrics answered {status}")
        samples = {}
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def health(self):
        return http_get(f"{self.server_url}/health")[0]

    def keel_cli(self, *args, json_out=False, check_rc=True, timeout=30):
        """Runs `keel --config CFG ARGS...`; returns stdout, parsed JSON with json_out=True,
        or the CompletedProcess with check_rc=False."""
        argv = [self.keel_bin, "--config", self.config_path, *args]
        if json_out:
            argv += ["-o", "json"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env=self._env("keel-cli"), cwd=self.tmp)
        if not check_rc:
            return r
        if r.returncode != 0:
            self.check_services()
        check(r.returncode == 0, f"`keel {' '.join(args)}` exited {r.returncode}:\n"
                                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
        if json_out:
            try:
                return json.loads(r.stdout)
            except json.JSONDecodeError as e:
                raise TestFailure(f"`keel {' '.join(args)} -o json` printed no JSON ({e}): "
                                  f"{r.stdout!r}") from e
        return r.stdout

    def create_user(self, name):
        self.keel_cli("users", "create", name)

    def create_authkey(self, user, *flags):
        """Returns the key printed by `keel preauthkeys create` (its last word)."""
        out = self.keel_cli("preauthkeys", "create", "--user", user, *flags).split()
        check(out, "`keel preauthkeys create` printed nothing")
        return out[-1]

    def join_pair(self, user, env=None):
        """Creates `user`, joins clients 1 and 2 as node1 and node2 with one reusable key and
        waits until both are Running and see each other. Returns the key."""
        self.create_user(user)
        key = self.create_authkey(user, "--reusable")
        for n in (1, 2):
            self.start_tailscaled(n, env=env)
            self.up(n, key, f"node{n}")
        for n in (1, 2):
            self.wait_running(n)
        wait_until(lambda: self.peer_dns_names(1) == {f"node2.{BASE_DOMAIN}."}
                   and self.peer_dns_names(2) == {f"node1.{BASE_DOMAIN}."}, 30,
                   "clients 1 and 2 to see each other")
        return key

    def join_all(self, keys, names):
        """Starts client n for each n in `keys`, runs `tailscale up` with keys[n] as names[n],
        and waits until all are Running. Returns {n: the client's IPv4 address}."""
        for n in keys:
            self.start_tailscaled(n)
        for n in keys:
            step(f"client {n}: tailscale up as {names[n]}")
            self.up(n, keys[n], names[n])
        for n in keys:
            self.wait_running(n)
        return {n: self.tailscale_ipv4(n) for n in keys}

    def nodes(self):
        """keel's `nodes list -o json`, as a dict keyed by node name."""
        listing = self.keel_cli("nodes", "list", json_out=True)
        check(isinstance(listing, list), f"nodes list -o json is not an array: {listing!r}")
        return {n["givenName"]: n for n in listing}

    # clients ---------------------------------------------------------------------------------

    def client_dir(self, n):
        return os.path.join(self.tmp, f"ts{n}")

    def client_socket(self, n):
        return os.path.join(self.client_dir(n), "tailscaled.sock")

    def start_tailscaled(self, n, env=None, ts_dir=None):
        """env: extra variables (e.g. TS_DEBUG_ALWAYS_USE_DERP) for this client's daemon and CLI.
        ts_dir: run this client from another release's binaries."""
        self.client_env[n] = dict(env or {})
        if ts_dir:
            self.client_ts_dir[n] = os.path.abspath(ts_dir)
        d = self.client_dir(n)
        os.makedirs(d, exist_ok=True)
        argv = [os.path.join(self.client_ts_dir.get(n, self.ts_dir), "tailscaled"), "--tun=userspace-networking",
                f"--statedir={d}", f"--socket={self.client_socket(n)}", "--port=0"]
        proc = self._start(f"tailscaled{n}", argv, env=self._client_env(n))
        self.clients[n] = proc
        wait_until(lambda: self._expect_alive(proc) and "BackendState" in self.status(n),
                   30, f"tailscaled{n} to answer `tailscale status`")
        return proc

    def stop_tailscaled(self, n):
        self.clients.pop(n).stop()

    def tailscale(self, n, *args, timeout=120, watch_services=False):
        """Runs `tailscale --socket=... ARGS`; returns the CompletedProcess (exit -1 on timeout).

        With watch_services, gives up at once (ServiceDied) if keel exits meanwhile.
        """
        proc = self.tailscale_popen(n, *args, stdin=subprocess.DEVNULL, text=True)
        argv = proc.args
        deadline = time.monotonic() + timeout
        while True:
            try:
                out, err = proc.communicate(timeout=1 if watch_services else timeout)
                return subprocess.CompletedProcess(argv, proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                pass
            try:
                if watch_services:
                    self.check_services()
            except ServiceDied:
                proc.kill()
                proc.communicate()
                raise
            if time.monotonic() >= deadline:
                proc.kill()
                out, err = proc.communicate()
                return subprocess.CompletedProcess(argv, -1, out, err + "\n<harness: timed out>")

    def tailscale_popen(self, n, *args, stdin=subprocess.PIPE, text=False):
        """Starts `tailscale --socket=... ARGS` with piped stdout/stderr; the caller waits."""
        argv = [os.path.join(self.client_ts_dir.get(n, self.ts_dir), "tailscale"),
                f"--socket={self.client_socket(n)}", *args]
        return subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=text, env=self._client_env(n),
                                preexec_fn=_die_with_parent)

    def up(self, n, authkey, hostname, check_rc=True, up_timeout="60s", login_server=None):
        r = self.tailscale(n, "up", f"--login-server={login_server or self.server_url}",
                           f"--auth-key={authkey}",
                           f"--hostname={hostname}", f"--timeout={up_timeout}",
                           watch_services=True)
        if check_rc:
            if r.returncode != 0:
                self.check_services()
            check(r.returncode == 0, f"`tailscale up` on client {n} exited {r.returncode}:\n"
                                     f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def status(self, n):
        self.check_services()
        r = self.tailscale(n, "status", "--json", timeout=30)
        if r.returncode != 0 and not r.stdout.strip().startswith("{"):
            raise TestFailure(f"`tailscale status --json` on client {n} exited {r.returncode}: "
                              f"{r.stderr.strip()}")
        return json.loads(r.stdout)

    def backend_state(self, n):
        return self.status(n).get("BackendState")

    def wait_running(self, n, timeout=60):
        wait_until(lambda: self.backend_state(n) == "Running", timeout,
                   f"client {n} to reach BackendState Running")

    def wait_derp_connected(self, n, timeout=30):
        """Waits for client n's own log line saying it connected to keel's relay."""
        line = f"magicsock: derp-{DERP_REGION} connected"
        wait_until(lambda: any(line in l for l in self.clients[n].tail(10**6)), timeout,
                   f"client {n} to log {line!r}")

    def tailscale_ipv4(self, n):
        ips = (self.status(n).get("Self") or {}).get("TailscaleIPs") or []
        v4 = [ip for ip in ips if ":" not in ip]
        check(v4, f"client {n} has no Tailscale IPv4 address: {ips}")
        return v4[0]

    def peer_dns_names(self, n):
        peers = self.status(n).get("Peer") or {}
        return {p.get("DNSName", "") for p in peers.values()}

    # plumbing --------------------------------------------------------------------------------

    def _env(self, home_name):
        home = os.path.join(self.tmp, "home", home_name)
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ)
        env.update({
            "HOME": home,
            # Without this, tailscaled run as root keeps its log config in /var/lib/tailscale.
            "TS_LOGS_DIR": home,
            "XDG_CACHE_HOME": os.path.join(home, ".cache"),
            "XDG_CONFIG_HOME": os.path.join(home, ".config"),
            "TS_NO_LOGS_NO_SUPPORT": "true",
            "TS_ASSUME_NETWORK_UP_FOR_TEST": "1",
        })
        trusted = self.trusted_certs()
        if trusted:
            env["SSL_CERT_FILE"] = trusted
        return env

    def _client_env(self, n):
        env = self._env(f"ts{n}")
        env.update(self.client_env.get(n, {}))
        return env

    def _expect_alive(self, proc):
        if not proc.alive():
            raise ServiceDied(f"{proc.name} {proc.state()}")
        return True

    def dump_logs(self):
        shown = set()
        for proc in self.procs:
            if proc.log_path in shown:  # a restarted process appends to the same log
                continue
            shown.add(proc.log_path)
            print(f"----- last {LOG_TAIL_LINES} lines of {proc.name}, {proc.state()} "
                  f"({' '.join(proc.argv)}) -----", flush=True)
            for line in proc.tail():
                print(line)
        sys.stdout.flush()

    def close(self, keep=False):
        # Clients first (started last), so keel sees orderly disconnects; then keel.
        for proc in reversed(self.procs):
            try:
                proc.stop(grace=5.0)
            except Exception as e:  # noqa: BLE001 - keep stopping the others
                print(f"harness: stopping {proc.name}: {e}", file=sys.stderr)
        if keep:
            print(f"harness: kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def parse_args(description, add_args=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--keel", required=True, help="path of the keel binary")
    parser.add_argument("--ts-dir", required=True,
                        help="directory holding tailscale and tailscaled")
    parser.add_argument("--netmon-lo-address", action="store_true",
                        help=f"add {NETMON_LO_ADDRESS} to lo, for clients older than v1.90")
    parser.add_argument("--derp-operator-cert", action="store_true",
                        help="serve DERP with a named certificate the clients trust via "
                             "SSL_CERT_FILE instead of the pinned self-signed one (pre-pin clients)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (also: KEEL_E2E_KEEP=1)")
    if add_args:
        add_args(parser)
    return parser.parse_args()


def run(test, description, add_args=None):
    """Entry point of every test script: test(harness, args) raises on failure."""
    args = parse_args(description, add_args)
    enter_isolated_network(args.netmon_lo_address)
    # A SIGTERM (e.g. from ctest) still runs the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("harness: terminated"))
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    try:
        h = Harness(args.keel, args.ts_dir, name, derp_operator_cert=args.derp_operator_cert)
    except TestFailure as e:
        print(f"FAIL {name}: {e}", flush=True)
        return 1
    step(f"{name}: working in {h.tmp}")
    ok = False
    try:
        started = time.monotonic()
        test(h, args)
        ok = True
        print(f"PASS {name} ({time.monotonic() - started:.1f}s)")
    except BaseException:
        traceback.print_exc()
        h.dump_logs()
    finally:
        h.close(keep=args.keep or os.environ.get("KEEL_E2E_KEEP") == "1")
    return 0 if ok else 1


class LiveCommand:
    """A started command (harness.tailscale_popen) whose stdout and stderr are read as it runs,
    for commands that wait on someone (`tailscale up` for a login, `tailscale ssh` for a check).
    """

    def __init__(self, proc):
        self.proc = proc
        self.out = b""
        self.err = b""
        self.open = [proc.stdout, proc.stderr]

    def pump(self, timeout):
        """Reads what is there for up to `timeout` s; True once the command has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.open:
                if self.proc.poll() is not None:
                    return True
                time.sleep(0.1)
                continue
            r, _, _ = select.select(self.open, [], [], 0.2)
            for f in r:
                chunk = os.read(f.fileno(), 65536)
                if not chunk:
                    self.open.remove(f)  # EOF: stays readable, so stop watching it
                elif f is self.proc.stdout:
                    self.out += chunk
                else:
                    self.err += chunk
            if not r and self.proc.poll() is not None:
                return True
        return self.proc.poll() is not None

    def text(self):
        """Everything printed so far, stdout then stderr."""
        return (self.out + self.err).decode("utf-8", "replace")

    def finish(self, timeout):
        """Waits up to `timeout` s for the exit; returns the exit code (fails on a timeout)."""
        if not self.pump(timeout):
            self.proc.kill()
            raise TestFailure(f"{self.proc.args[0]} still running after {timeout}s: "
                              f"{self.text()!r}")
        self.pump(0.2)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()


def step(msg):
    """Prints a progress line (ctest shows it with --output-on-failure)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

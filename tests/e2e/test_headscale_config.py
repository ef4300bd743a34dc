#!/usr/bin/env python3
"""keel starts on Headscale 0.29.2's own config-example.yaml, unmodified.

The sample's paths (/var/lib/headscale/...) and addresses are pointed at a temporary directory
and free loopback ports through KEEL_* environment variables, as HEADSCALE_* ones would for
Headscale. Checks: `keel configtest` accepts the file; `keel serve` starts on it and answers
/health and /metrics; each Headscale key keel does not act on is named once in a startup
warning (grpc_listen_addr, derp.urls, ...); a copy with one key misspelt is refused, naming
the key and the one meant.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, step, wait_until  # noqa: E402

# Keys of the sample whose values ask keel for something it does not do: each must be named in
# exactly one warning.
WARNED = ["grpc_listen_addr", "derp.urls", "disable_check_updates", "derp.auto_update_enabled", "derp.update_frequency",
          "database.gorm.prepare_stmt", "database.gorm.parameterized_queries",
          "database.gorm.skip_err_record_not_found", "database.gorm.slow_threshold"]


def environment(h, d):
    port, metrics = harness.free_port(), harness.free_port()
    env = dict(os.environ)
    env.update({
        "KEEL_SERVER_URL": f"http://127.0.0.1:{port}",
        "KEEL_LISTEN_ADDR": f"127.0.0.1:{port}",
        "KEEL_METRICS_LISTEN_ADDR": f"127.0.0.1:{metrics}",
        "KEEL_NOISE_PRIVATE_KEY_PATH": f"{d}/noise_private.key",
        "KEEL_PRIVATE_KEY_PATH": f"{d}/private.key",
        "KEEL_DERP_SERVER_PRIVATE_KEY_PATH": f"{d}/derp_server_private.key",
        "KEEL_DATABASE_SQLITE_PATH": f"{d}/db.sqlite",
        "KEEL_UNIX_SOCKET": f"{d}/keel.sock",
    })
    return env, port, metrics


def keel(h, env, *args):
    return subprocess.run([h.keel_bin, *args], env=env, capture_output=True, text=True,
                          timeout=30)


def test(h, args):
    sample = args.headscale_config
    check(os.path.exists(sample), f"{sample} missing; run scripts/install-headscale.sh")
    d = os.path.join(h.tmp, "state")
    os.makedirs(d)
    env, port, metrics = environment(h, d)

    step("keel configtest accepts Headscale's config-example.yaml as it is")
    r = keel(h, env, "--config", sample, "configtest")
    check(r.returncode == 0, f"configtest refused the sample: {r.stdout}{r.stderr}")

    step("keel serve starts on it, with one warning for each key it does not act on")
    proc = h._start("keel-sample", [h.keel_bin, "--config", sample, "serve"], env=env)
    wait_until(lambda: proc.alive() and
               harness.http_get(f"http://127.0.0.1:{port}/health")[0] == 200, 30,
               "keel on the sample config to answer /health")
    check(harness.http_get(f"http://127.0.0.1:{metrics}/metrics")[0] == 200, "no /metrics")
    proc.stop()
    with open(os.path.join(h.tmp, "keel-sample.log")) as f:
        log = f.read()
    warnings = [line for line in log.splitlines() if "[warning]" in line]
    for key in WARNED:
        named = [w for w in warnings if f"] {key} has no effect" in w or f"] {key} is ignored" in w]
        check(len(named) == 1, f"{key}: {len(named)} warnings, wanted 1:\n" + "\n".join(warnings))
    quiet = ["grpc_allow_insecure", "write_ahead_log", "wal_autocheckpoint", "acme_url",
             "logtail.enabled", "taildrop.enabled"]
    for key in quiet:
        check(not any(key in w for w in warnings), f"{key} warned though keel does what it asks")

    step("a misspelt key is refused, naming the key meant")
    with open(sample) as f:
        text = f.read()
    check("  base_domain: example.com" in text, "the sample has no dns.base_domain line")
    typo = os.path.join(h.tmp, "typo.yaml")
    with open(typo, "w") as f:
        f.write(text.replace("  base_domain: example.com", "  base_domian: example.com", 1))
    r = keel(h, env, "--config", typo, "configtest")
    check(r.returncode != 0, "a misspelt key was accepted")
    want = 'unknown config key "dns.base_domian"; did you mean "dns.base_domain"?'
    check(want in r.stderr, f"configtest said {r.stderr!r}, wanted {want!r}")

    step("a bad KEEL_* value names the variable")
    bad = dict(env, KEEL_LISTEN_ADDR="nohost")
    r = keel(h, bad, "--config", sample, "configtest")
    check(r.returncode != 0 and "KEEL_LISTEN_ADDR" in r.stderr, f"bad override: {r.stderr!r}")


def add_args(parser):
    parser.add_argument("--headscale-config", required=True,
                        help="Headscale's config-example.yaml (scripts/install-headscale.sh)")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__, add_args))

#!/usr/bin/env python3
"""DNS settings reach real clients: split resolvers, search domains, extra records from the
config and from a watched JSON file, and a config change on SIGHUP, all without a restart.

- `tailscale dns status` shows the split route corp.example -> 10.0.0.53 and the search
  domains; the global nameserver is the client's resolver (override_local_dns).
- `tailscale dns query` resolves a name from dns.extra_records and one from the
  dns.extra_records_path file; rewriting the file (write and rename, as editors do) changes the
  answer within seconds; a broken file keeps the old records.
- After the config gains a second split domain and keel gets SIGHUP, the client shows it.
"""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BASE_DOMAIN, check, step, wait_until  # noqa: E402

A = 1
STATIC = f"grafana.{BASE_DOMAIN}"
FROM_FILE = f"db.{BASE_DOMAIN}"


def dns_yaml(records_path, split_extra=""):
    return f"""  override_local_dns: true
  nameservers:
    global: [192.0.2.53]
    split:
      corp.example: [10.0.0.53]
{split_extra}  search_domains: [corp.example]
  extra_records:
    - {{name: {STATIC}, type: A, value: 100.64.0.99}}
  extra_records_path: {records_path}
"""


def write_config(h, records_path, split_extra=""):
    h.write_config()
    with open(h.config_path) as f:
        text = f.read()
    marker = f"  base_domain: {BASE_DOMAIN}\n"
    check(marker in text, "the harness config has no dns.base_domain line")
    text = text.replace(marker, marker + dns_yaml(records_path, split_extra))
    with open(h.config_path + ".new", "w") as f:
        f.write(text)
    os.replace(h.config_path + ".new", h.config_path)


def write_records(path, records):
    with open(path + ".tmp", "w") as f:
        f.write(records if isinstance(records, str) else json.dumps(records))
    os.replace(path + ".tmp", path)


def query(h, name):
    r = h.tailscale(A, "dns", "query", name, "A", timeout=20)
    return r.stdout + r.stderr


def status(h):
    return h.tailscale(A, "dns", "status", "--all", timeout=20).stdout


def test(h, args):
    records = os.path.join(h.tmp, "records.json")
    write_records(records, [{"name": FROM_FILE, "type": "A", "value": "100.64.0.98"}])
    write_config(h, records)
    h.start_keel()
    h.create_user("alice")
    h.join_all({A: h.create_authkey("alice")}, {A: "a"})

    step("split DNS, search domains and resolvers in `tailscale dns status`")
    wait_until(lambda: "corp.example" in status(h), 15, "dns status to show corp.example")
    out = status(h)
    for want in ("10.0.0.53", "corp.example", BASE_DOMAIN, "192.0.2.53"):
        check(want in out, f"`tailscale dns status` lacks {want!r}:\n{out}")

    step("extra records from the config and from the file resolve")
    wait_until(lambda: "100.64.0.99" in query(h, STATIC), 15, f"{STATIC} to resolve")
    wait_until(lambda: "100.64.0.98" in query(h, FROM_FILE), 15, f"{FROM_FILE} to resolve")

    step("rewriting the records file reaches the client without a restart")
    write_records(records, [{"name": FROM_FILE, "type": "A", "value": "100.64.0.97"},
                            {"name": f"new.{BASE_DOMAIN}", "type": "A", "value": "100.64.0.96"}])
    wait_until(lambda: "100.64.0.97" in query(h, FROM_FILE), 15, f"{FROM_FILE} to change")
    wait_until(lambda: "100.64.0.96" in query(h, f"new.{BASE_DOMAIN}"), 15, "the new record")

    step("a broken records file is refused and the old records stay")
    write_records(records, "[{\"name\": \"x\", \"type\": \"A\", \"value\": \"nope\"}]")
    wait_until(lambda: any("dns.extra_records_path" in l and "old records stay" in l
                           for l in h.keel_proc.tail(200)), 10, "keel to log the refusal")
    check("100.64.0.97" in query(h, FROM_FILE), "a broken file removed the records")

    step("SIGHUP applies a changed dns section")
    write_config(h, records, split_extra="      lab.example: [10.1.0.53]\n")
    h.keel_proc.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: "lab.example" in status(h), 15, "dns status to show lab.example")
    check("10.1.0.53" in status(h), "the new split resolver is missing")
    check(h.health() == 200, "keel stopped answering after SIGHUP")


if __name__ == "__main__":
    sys.exit(harness.run(test, __doc__.splitlines()[0]))

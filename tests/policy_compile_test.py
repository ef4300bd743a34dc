#!/usr/bin/env python3
"""Runs `keel policy compile` on golden captures and compares each node's packet filter and
peer set with what Tailscale's control plane sent (order-insensitive)."""
import json
import os
import subprocess
import sys
import tempfile

CASES = ["acl_results/acl-a01.json", "ssh_results/ssh-a1.json", "grant_results/grant-a1.json"]


def canon_rule(rule):
    r = dict(rule)
    r["SrcIPs"] = sorted(r.get("SrcIPs", []))
    r["DstPorts"] = sorted(json.dumps(d, sort_keys=True) for d in r.get("DstPorts", []))
    if "IPProto" in r:
        r["IPProto"] = sorted(r["IPProto"])
    return json.dumps(r, sort_keys=True)


def load_capture(root, case):
    """Returns the capture's JSON text; captures are stored as <case>.zst (testdata/README.md)."""
    packed = os.path.join(root, case + ".zst")
    if not os.path.exists(packed):
        raise SystemExit("FAIL: test data file %s is missing. It ships with the repository "
                         "(testdata/README.md): restore it with `git checkout -- testdata` or "
                         "take a fresh `git clone`" % packed)
    return subprocess.run(["zstd", "-dcq", packed], capture_output=True, check=True,
                          text=True).stdout


def check(keel, text):
    doc = json.loads(text)
    policy = doc["input"]["full_policy"]
    if not isinstance(policy, str):
        policy = json.dumps(policy)
    with tempfile.NamedTemporaryFile("w", suffix=".hujson", delete=False) as f:
        f.write(policy)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as t:
        t.write(text)
    try:
        out = subprocess.run([keel, "policy", "compile", "--policy", f.name, "--topology", t.name,
                              "-o", "json"], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(f.name)
        os.unlink(t.name)
    if out.returncode != 0:
        return "keel policy compile failed: " + out.stderr
    got = json.loads(out.stdout)
    for host, cap in doc["captures"].items():
        if host not in got:
            return host + ": missing from output"
        if "packet_filter_rules" in cap:
            want = sorted(canon_rule(r) for r in (cap["packet_filter_rules"] or []))
            have = sorted(canon_rule(r) for r in got[host]["packet_filter_rules"])
            if want != have:
                return "%s: filter differs:\n want %s\n got  %s" % (host, want, have)
        nm = cap.get("netmap")
        if nm:
            want = sorted(p.get("ComputedName", "") for p in nm.get("Peers") or [])
            have = sorted(p["Name"] for p in got[host]["netmap"]["Peers"])
            if want != have:
                return "%s: peers differ: want %s got %s" % (host, want, have)
    return None


def main():
    keel, root = sys.argv[1], sys.argv[2]
    failed = False
    for case in CASES:
        err = check(keel, load_capture(root, case))
        print(("FAIL " + case + ": " + err) if err else ("ok " + case))
        failed = failed or err is not None
    # A refused policy exits non-zero with the reason.
    with tempfile.NamedTemporaryFile("w", suffix=".hujson", delete=False) as f:
        f.write('{"acls": [{"action": "accept", "src": ["group:none"], "dst": ["*:*"]}]}')
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as t:
        t.write(load_capture(root, CASES[0]))
    out = subprocess.run([keel, "policy", "compile", "--policy", f.name, "--topology", t.name],
                         capture_output=True, text=True)
    os.unlink(f.name)
    os.unlink(t.name)
    if out.returncode == 0 or "refused" not in out.stderr:
        print("FAIL: a bad policy was not refused:", out.returncode, out.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

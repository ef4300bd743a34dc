#!/usr/bin/env python3
"""Collects the load generator's JSON files of one bench/scale run, prints keel's figures with
Headscale's beside them and the keel/Headscale ratios, checks issue 14's targets, and writes
the whole table to one results file.

    summarize.py WORK_DIR OUT_FILE HEADSCALE_VERSION KEEL_VERSION SCENARIOS SERVERS
    (OUT_FILE "-": print only; SCENARIOS and SERVERS as the runner ran them, space-separated)

Exits 1 when a keel run is missing, did not converge or lost a change."""
import datetime
import glob
import json
import os
import platform
import sys

work, out, hs_version, keel_version, scenarios, servers = sys.argv[1:7]
runs = {}
for path in sorted(glob.glob(os.path.join(work, "*.json"))):
    server, scenario = os.path.basename(path)[:-5].split("-", 1)
    with open(path) as f:
        run = json.load(f)
    # When the run ended: runs of an earlier invocation (EXTRA_RESULTS) keep their own time.
    run["finished_at"] = datetime.datetime.fromtimestamp(
        os.path.getmtime(path), datetime.timezone.utc).isoformat(timespec="seconds")
    runs.setdefault(scenario, {})[server] = run


# Figures that mean something only for a run that converged (a run cut off has a time, a
# CPU total and message counts, but not of the same work).
NEEDS_CONVERGENCE = {"converge_s", "converge_after_last_registration_s", "register_p50_ms",
                     "register_p99_ms", "propagation_p50_ms", "propagation_p99_ms",
                     "propagation_max_ms", "server_cpu_s", "us_per_entry", "server_peak_rss_mib",
                     "messages", "wire_mib", "peer_entries"}


def ratio(k, h, field):
    if field in NEEDS_CONVERGENCE and not (k.get("converged") and h.get("converged")):
        return None
    a, b = k.get(field), h.get(field)
    return round(a / b, 4) if a and b else None


# (scenario, description, predicate over keel's run, and over (keel, headscale) when both ran)
TARGETS = [
    ("s1", "server CPU <= 0.05 x Headscale's", None, lambda k, h: ratio(k, h, "server_cpu_s"), 0.05),
    ("s1", "convergence <= 0.1 x Headscale's", None, lambda k, h: ratio(k, h, "converge_s"), 0.1),
    ("s1", "propagation p99 <= 0.1 x Headscale's", None, lambda k, h: ratio(k, h, "propagation_p99_ms"), 0.1),
    ("s1", "server CPU per peer entry <= 2 us", lambda k: k["us_per_entry"], None, 2),
    ("s2", "converged <= 60 s after the last registration", lambda k: k["converge_after_last_registration_s"] if k["converged"] else None, None, 60),
    ("s2", "propagation p99 < 500 ms", lambda k: k["propagation_p99_ms"] if k["changes_complete"] else None, None, 500),
    ("s2", "peak RSS < 1 GiB", lambda k: k["server_peak_rss_mib"], None, 1024),
    ("s3", "converged, peak RSS < 2 GiB", lambda k: k["server_peak_rss_mib"] if k["converged"] else None, None, 2048),
    ("s3", "server CPU per peer entry <= 2 us", lambda k: k["us_per_entry"], None, 2),
    # The idle scenario is the end of keel's S3 run: its 10,000 nodes left alone.
    ("s3", "idle: CPU < 2% of one core", lambda k: k.get("idle_cpu_percent_of_core"), None, 2),
    ("s3", "idle: server memory < 30 KiB per stream", lambda k: k.get("idle_kib_per_stream"), None, 30),
]

FIELDS = ["nodes", "registered", "converged", "converge_s", "converge_after_last_registration_s",
          "register_p50_ms", "register_p99_ms", "propagation_p50_ms", "propagation_p99_ms",
          "propagation_max_ms", "changes_complete", "server_cpu_s", "us_per_entry",
          "server_peak_rss_mib", "messages", "wire_mib", "peer_entries",
          "idle_cpu_percent_of_core", "idle_kib_per_stream"]

failed = False
summary = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                       "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
           "versions": {"keel": keel_version, "headscale": hs_version},
           "runs": runs, "ratios": {}, "targets": []}
for scenario, by_server in runs.items():
    k, h = by_server.get("keel"), by_server.get("headscale")
    print(f"\n== {scenario}")
    print(f"{'':38} {'keel':>14} {'headscale':>14} {'keel/hs':>9}")
    for field in FIELDS:
        kv = k.get(field) if k else None
        hv = h.get(field) if h else None
        if kv is None and hv is None:
            continue
        r = ratio(k, h, field) if k and h and isinstance(kv, (int, float)) and not isinstance(kv, bool) else None
        if r is not None:
            summary["ratios"].setdefault(scenario, {})[field] = r
        fmt = lambda v: "-" if v is None else (str(v) if isinstance(v, (bool, int)) else f"{v:.2f}")
        print(f"{field:38} {fmt(kv):>14} {fmt(hv):>14} {fmt(r):>9}")
    if k and (not k["converged"] or k["changes_complete"] < k["changes_sent"]):
        failed = True
        print(f"keel did not converge or lost changes in {scenario}: {k.get('first_errors')}")

for scenario in scenarios.split():
    if "keel" in servers.split() and "keel" not in runs.get(scenario, {}):
        failed = True
        print(f"\nkeel's {scenario} run left no results")

print("\n== targets")
for scenario, what, on_keel, on_pair, bound in TARGETS:
    if scenario not in runs:
        continue
    by_server = runs[scenario]
    k, h = by_server.get("keel"), by_server.get("headscale")
    value = None
    if k and on_keel:
        value = on_keel(k)
    elif k and h and on_pair:
        value = on_pair(k, h)
    if value is None:
        verdict = "not measured" if not k else "missed (did not complete)"
    else:
        verdict = "met" if value < bound or (value == bound) else "missed"
    summary["targets"].append({"scenario": scenario, "target": what, "value": value, "verdict": verdict})
    print(f"{scenario:5} {what:48} {('-' if value is None else f'{value:.3f}'):>10}  {verdict}")

if out != "-":
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(f"\nwritten to {out}")
sys.exit(1 if failed else 0)

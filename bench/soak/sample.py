#!/usr/bin/env python3
"""Samples keel's resources while bench/loadgen -soak churns its tailnet; then the trend.

Every --interval seconds: resident memory (VmRSS), open descriptors, threads and CPU over the
interval from /proc/<keel>, and the online nodes and map streams from keel's /metrics; one
line each. When the load generator exits: first/last/min/max, and least-squares slopes over
the second half of the run (the first half holds the join storm and the warm-up). The verdict
is "flat" when, projected over the whole run, memory grows by less than 5% of its mean and the
descriptors not explained by open map streams by fewer than 5; otherwise "GROWING" (exit 3,
unless the verdict is not enforced). Writes everything as JSON to --out.
"""
import argparse
import datetime
import json
import os
import re
import sys
import time
import urllib.request

TICKS = os.sysconf("SC_CLK_TCK")
RSS_SHARE = 0.05
FD_LIMIT = 5


def go_duration(text):
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"([\d.]+)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text}")
    return sum(float(n) * units[u] for n, u in parts)


def proc(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.split()
    return {
        "state": fields[0],
        "cpu": (int(fields[11]) + int(fields[12])) / TICKS,
        "rss_kib": int(status["VmRSS"][0]),
        "threads": int(status["Threads"][0]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def finished(a):
    """The load generator has exited or written its results (its nodes still stream then)."""
    return exited(a.loadgen_pid) or bool(a.loadgen_json and os.path.exists(a.loadgen_json))


def exited(pid):
    try:
        return proc(pid)["state"] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def metrics(url):
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return {}
    wanted = {'keel_nodes{state="online"}': "online", 'keel_nodes{state="registered"}': "registered",
              "keel_map_streams": "streams"}
    out = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name in wanted:
            out[wanted[name]] = int(float(value))
    return out


def slope(points):
    """Least-squares slope of (x, y) points; 0 with fewer than two."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keel-pid", type=int, required=True)
    ap.add_argument("--loadgen-pid", type=int, required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--duration", required=True, help="the churn's length (Go syntax)")
    ap.add_argument("--loadgen-json")
    ap.add_argument("--out", default="-")
    ap.add_argument("--verdict", default="auto", help="1 enforces it, 0 reports it, auto: 1 from 10m")
    ap.add_argument("--keel-version", default="")
    a = ap.parse_args()
    churn = go_duration(a.duration)
    enforce = a.verdict == "1" or (a.verdict == "auto" and churn >= 600)

    samples = []
    start = time.monotonic()
    prev = proc(a.keel_pid)
    prev_t = start
    print(f"{'t_s':>6} {'rss_MiB':>8} {'fds':>5} {'cpu_%':>6} {'threads':>7} {'online':>6} "
          f"{'streams':>7} {'nodes':>5}", flush=True)
    while not finished(a):
        deadline = time.monotonic() + a.interval
        while time.monotonic() < deadline and not finished(a):
            time.sleep(min(0.5, max(0, deadline - time.monotonic())))
        if time.monotonic() < deadline:
            break  # the run ended mid-interval: a short last sample would only add noise
        if exited(a.keel_pid):
            print("keel exited", file=sys.stderr)
            break
        now, cur = time.monotonic(), proc(a.keel_pid)
        m = metrics(a.metrics)
        if finished(a):
            break  # it may have let its nodes go while this sample was taken
        s = {"t_s": round(now - start, 1), "rss_kib": cur["rss_kib"], "fds": cur["fds"],
             "cpu_percent": round(100 * (cur["cpu"] - prev["cpu"]) / (now - prev_t), 1),
             "threads": cur["threads"], "online": m.get("online"), "streams": m.get("streams"),
             "registered": m.get("registered")}
        samples.append(s)
        prev, prev_t = cur, now
        print(f"{s['t_s']:>6.0f} {s['rss_kib'] / 1024:>8.1f} {s['fds']:>5} {s['cpu_percent']:>6.1f} "
              f"{s['threads']:>7} {s['online']!s:>6} {s['streams']!s:>7} {s['registered']!s:>5}", flush=True)

    if not samples:
        print("no samples: the run ended within one interval", file=sys.stderr)
        return 1
    span_min = samples[-1]["t_s"] / 60
    half = [s for s in samples if s["t_s"] >= samples[-1]["t_s"] / 2]
    rss_slope = slope([(s["t_s"] / 60, s["rss_kib"]) for s in half])
    fd_slope = slope([(s["t_s"] / 60, s["fds"]) for s in half])
    # Descriptors beyond one per open map stream: what a leak would add to.
    extra_slope = slope([(s["t_s"] / 60, s["fds"] - (s["streams"] or 0)) for s in half])
    rss_mean = sum(s["rss_kib"] for s in half) / len(half)
    rss_growth, fd_growth = rss_slope * span_min, extra_slope * span_min
    flat = rss_growth < RSS_SHARE * rss_mean and fd_growth < FD_LIMIT
    verdict = "flat" if flat else "GROWING"

    def stats(key):
        values = [s[key] for s in samples]
        return {"first": values[0], "last": values[-1], "min": min(values), "max": max(values)}

    summary = {
        "minutes": round(span_min, 1), "samples": len(samples), "trend_samples": len(half),
        "rss_kib": stats("rss_kib"), "fds": stats("fds"), "threads": stats("threads"),
        "rss_slope_kib_per_min": round(rss_slope, 1), "fd_slope_per_min": round(fd_slope, 3),
        "fds_beyond_streams_slope_per_min": round(extra_slope, 3),
        "rss_projected_growth_kib": round(rss_growth), "rss_mean_kib": round(rss_mean),
        "fds_projected_growth": round(fd_growth, 1),
        "cpu_percent_mean": round(sum(s["cpu_percent"] for s in samples) / len(samples), 1),
        "cpu_percent_mean_second_half": round(sum(s["cpu_percent"] for s in half) / len(half), 1),
        "cpu_percent_max": max(s["cpu_percent"] for s in samples),
        "verdict": verdict, "verdict_enforced": enforce,
    }
    r, f = summary["rss_kib"], summary["fds"]
    print(f"== summary over {summary['minutes']} min, {len(samples)} samples")
    print(f"   RSS MiB  first {r['first'] / 1024:.1f}  last {r['last'] / 1024:.1f}  "
          f"min {r['min'] / 1024:.1f}  max {r['max'] / 1024:.1f}")
    print(f"   fds      first {f['first']}  last {f['last']}  min {f['min']}  max {f['max']}")
    print(f"   CPU %    mean {summary['cpu_percent_mean']}  (second half "
          f"{summary['cpu_percent_mean_second_half']})  max {summary['cpu_percent_max']}")
    print(f"   trend over the second half: RSS {rss_slope:+.1f} KiB/min (projected "
          f"{rss_growth / 1024:+.1f} MiB over the run, limit {RSS_SHARE * rss_mean / 1024:.1f}), "
          f"fds {fd_slope:+.3f}/min, beyond streams {extra_slope:+.3f}/min (projected "
          f"{fd_growth:+.1f}, limit {FD_LIMIT})")
    print(f"   verdict: {verdict}" + ("" if enforce else " (not enforced: run too short)"))

    loadgen = None
    if a.loadgen_json and os.path.exists(a.loadgen_json):
        with open(a.loadgen_json) as fh:
            loadgen = json.load(fh)
    if a.out != "-":
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as fh:
            json.dump({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       "keel": a.keel_version, "churn": a.duration, "interval_s": a.interval,
                       "summary": summary, "loadgen": loadgen, "samples": samples}, fh, indent=1)
            fh.write("\n")
        print(f"   samples: {a.out}")
    return 3 if enforce and not flat else 0


if __name__ == "__main__":
    sys.exit(main())

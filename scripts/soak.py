#!/usr/bin/env python3
"""Soak driver for `shr demo` (scripts/soak starts the server and calls this).

For `minutes` minutes: a scenario started every few seconds (a 409 while one runs is the
expected answer), SSE clients joining /api/events and dropping after a few events or seconds,
the risk simulation restarted as soon as the last one finished, and readers polling the public
routes. Each minute it samples the server's resident memory and open file descriptors
(/proc/PID), the database's size and the p50/p99 latency of the readers' requests that minute,
writes them to a CSV and, at the end, plots them (PNG) and checks they stay flat within the
stated bounds (exit 1 otherwise).

Usage: soak.py BASE_URL PID DB_PATH MINUTES OUT_CSV OUT_PNG
       soak.py --evaluate CSV OUT_PNG   (judge and plot a recorded run)
"""

import csv
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

if sys.argv[1] != "--evaluate":
    base, pid, db_path, minutes, out_csv, out_png = sys.argv[1:7]
    pid, minutes = int(pid), float(minutes)
    url = urlparse(base)
stop = threading.Event()
lock = threading.Lock()
latencies = []  # (seconds, route) of this minute's reader requests
counts = {"scenario_started": 0, "scenario_busy": 0, "sse_sessions": 0, "sse_events": 0,
          "simulations": 0, "reads": 0, "errors": 0}


def bump(k, n=1):
    with lock:
        counts[k] += n


def request(method, path, timeout=30):
    """(status, body); status 0 when the request failed below HTTP (reset, timeout)."""
    req = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, http.client.HTTPException):
        return 0, b""


def scenarios():
    names = ["small-deficit", "large-deficit", "darkpool-failure"]
    i = 0
    while not stop.wait(random.uniform(3, 6)):
        status, _ = request("POST", f"/api/scenarios/{names[i % 3]}")
        if status == 202:
            bump("scenario_started")
            i += 1
        elif status == 409:
            bump("scenario_busy")
        else:
            bump("errors")


def sse_client():
    while not stop.is_set():
        try:
            c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            c.request("GET", "/api/events")
            r = c.getresponse()
            bump("sse_sessions")
            want, deadline = random.randint(1, 50), time.time() + random.uniform(0.5, 8)
            got = 0
            while got < want and time.time() < deadline and not stop.is_set():
                line = r.fp.readline()
                if not line:
                    break
                if line.startswith(b"data:"):
                    got += 1
            bump("sse_events", got)
            c.close()  # drop mid-stream
        except OSError:
            bump("errors")
        stop.wait(random.uniform(0.1, 2))


def simulation():
    while not stop.is_set():
        status, _ = request("POST", "/api/simulate?tickMs=100&extraTicks=3&wait=true", timeout=600)
        if status in (200, 202):
            bump("simulations")
        elif status != 404:  # 404: no vault desk on this server; 0: the request failed
            bump("errors")
        stop.wait(1)


def reader():
    routes = ["/api/reserve?history=20", "/api/health", "/api/scenarios", "/api/darkpool/requests",
              "/api/incidents", "/api/vaults", "/api/rebalances?limit=50"]
    while not stop.wait(0.05):
        route = random.choice(routes)
        t = time.perf_counter()
        status, _ = request("GET", route)
        dt = time.perf_counter() - t
        with lock:
            latencies.append(dt)
            counts["reads"] += 1
            if status == 0 or status >= 500:
                counts["errors"] += 1


def proc(field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def sample(minute):
    with lock:
        lat = sorted(latencies)
        latencies.clear()
        c = dict(counts)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0.0
    db = sum(os.path.getsize(p) for p in (db_path, db_path + "-wal") if os.path.exists(p))
    return {"minute": minute, "rss_mib": proc("VmRSS:") / 1024, "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": proc("Threads:"), "db_mib": db / 2**20, "p50_ms": q(0.50), "p99_ms": q(0.99),
            "requests": len(lat), **c}


def run():
    threads = [threading.Thread(target=f, daemon=True) for f in
               [scenarios, simulation, reader, reader] + [sse_client] * 4]
    for t in threads:
        t.start()
    rows = [sample(0)]
    start = time.time()
    for m in range(1, int(minutes) + 1):
        stop.wait(max(0, start + 60 * m - time.time()))
        rows.append(sample(m))
        print(json.dumps(rows[-1]), flush=True)
    stop.set()

    with open(out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[-1].keys()))
        w.writeheader()
        w.writerows(rows)
    return rows



# Flat within bounds, judged after a warm-up of a fifth of the run (caches, pools, the
# embedded chain's first blocks): resident memory and descriptors within 25 % (and 32 MiB / 16
# descriptors) of their warm value; p99 latency without a trend (the median p99 of the last fifth
# of the minutes at most 1.5 x that of the fifth after the warm-up, plus 50 ms) and under 2 s
# every minute; no failed request.
def evaluate(rows):
    n = len(rows)
    warm_at = max(1, n // 5)
    warm, last = rows[warm_at], rows[-1]
    med = lambda xs: sorted(xs)[len(xs) // 2]
    early = med([r["p99_ms"] for r in rows[warm_at:warm_at + max(1, n // 5)]])
    late = med([r["p99_ms"] for r in rows[-max(1, n // 5):]])
    problems = []
    if last["rss_mib"] > max(warm["rss_mib"] * 1.25, warm["rss_mib"] + 32):
        problems.append(f"resident memory grew {warm['rss_mib']:.1f} -> {last['rss_mib']:.1f} MiB")
    if last["fds"] > warm["fds"] + 16:
        problems.append(f"open descriptors grew {warm['fds']} -> {last['fds']}")
    if late > early * 1.5 + 50:
        problems.append(f"p99 latency trends up: median {early:.0f} ms -> {late:.0f} ms")
    worst = max(r["p99_ms"] for r in rows[warm_at:])
    if worst > 2000:
        problems.append(f"p99 latency reached {worst:.0f} ms")
    if last["errors"]:
        problems.append(f"{last['errors']} failed requests")
    return {"warm": warm, "last": last, "p99_median_early_ms": early, "p99_median_late_ms": late,
            "problems": problems}


def plot(rows, out_png):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
        return
    last = rows[-1]
    xs = [r["minute"] for r in rows]
    fig, ax = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True)
    for a, key, label in [(ax[0][0], "rss_mib", "resident memory, MiB"), (ax[0][1], "fds", "open file descriptors"),
                          (ax[1][0], "db_mib", "database size, MiB"), (ax[1][1], "p99_ms", "reader latency, ms")]:
        a.plot(xs, [r[key] for r in rows], marker=".", label="p99" if key == "p99_ms" else None)
        a.set_title(label)
        a.set_ylim(bottom=0)
        a.grid(alpha=0.3)
    ax[1][1].plot(xs, [r["p50_ms"] for r in rows], marker=".", label="p50")
    ax[1][1].legend()
    for a in ax[1]:
        a.set_xlabel("minute")
    fig.suptitle(f"shr demo soak: {len(rows) - 1} min, {last['scenario_started']} scenarios, "
                 f"{last['sse_sessions']} SSE sessions, {last['simulations']} simulations, {last['reads']} reads")
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)


def read_csv(path):
    with open(path) as f:
        return [{k: (float(v) if "." in v else int(v)) for k, v in r.items()} for r in csv.DictReader(f)]


if __name__ == "__main__":
    if sys.argv[1] == "--evaluate":  # soak.py --evaluate CSV PNG: judge and plot a recorded run
        rows = read_csv(sys.argv[2])
    else:
        rows = run()
    plot(rows, sys.argv[-1])
    verdict = evaluate(rows)
    print(json.dumps(verdict))
    sys.exit(1 if verdict["problems"] else 0)

#!/usr/bin/env python3
"""Benchmarks of gslbatch against `gslbatch simulate` on 127.0.0.1 (the README's table).

    cargo build --release && python3 scripts/bench.py [--quick] [--only=overhead] [--before OLD_BIN]

The simulator is always this binary (GSLBATCH, default target/release/gslbatch), also for the
--before runs, so that only the client differs.

1. Quota exactness: simulator throttling at Q calls/s (rolling window) with --latency-ms 150,
   client --rate Q, default concurrency, Q = 5, 50, 500: achieved/Q and the share of 429s.
2. Engine overhead: no throttle, no latency, 100,000 check-real-name rows with journal and report,
   against oha (raw HTTP, no bookkeeping) on the same simulator in the same run; medians of 3.
   Once at the default window and once at --concurrency 64, oha's -c 64. With --before OLD_BIN,
   that binary's runs are interleaved with this one's against the same simulator (before/after).
3. Memory: peak RSS of a 1,000,000-row check-real-name run (/usr/bin/time -v).
4. follow of a 100,000-card clear run with 1% of the work orders failed: calls per API, wall
   time unthrottled, peak RSS, and what the calls cost at the default 5 calls/s.

Every server is a child process on loopback; every run is bounded by a timeout.
"""
import json, os, re, shutil, statistics, subprocess, sys, tempfile, time, urllib.request

import _harness as h

BIN = h.BIN
QUICK = "--quick" in sys.argv
BEFORE = sys.argv[sys.argv.index("--before") + 1] if "--before" in sys.argv else None
# The builds measured side by side: this one, and the --before one if given.
CLIENTS = [("this build", BIN)] + ([("before", BEFORE)] if BEFORE else [])
TOKEN = "bench-token"


def inventory(path, n):
    h.write_input(path, h.iccids(n))


class Sim:
    def __init__(self, inv, *args):
        env = dict(os.environ, GSL_SIM_TOKEN=TOKEN)
        self.p = subprocess.Popen([BIN, "-q", "simulate", "--listen", "127.0.0.1:0", "--inventory", inv, *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"listening on (\S+)", line)
        if not m:
            self.p.kill()
            raise SystemExit(f"simulator did not start: {line!r}")
        self.url = m.group(1)

    def stats(self):
        with urllib.request.urlopen(self.url + "/__sim/stats", timeout=10) as r:
            return json.load(r)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def gslbatch(args, timeout, timed=False, binary=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUAWEICLOUD_SDK_", "GSL_"))}
    env["GSL_AUTH_TOKEN"] = TOKEN
    cmd = [binary or BIN, "-q", *args]
    if timed:
        cmd = ["/usr/bin/time", "-v", *cmd]
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    rss = None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    if m:
        rss = int(m.group(1)) / 1024
    if r.returncode not in (0, 1):
        raise SystemExit(f"gslbatch {' '.join(args)} exited {r.returncode}: {r.stderr[-2000:]}")
    return wall, rss


def quota(tmp):
    print("## 1. Quota exactness (simulator --rate Q --latency-ms 150, client --rate Q)")
    print("| Q | rows | achieved calls/s | achieved/Q | 429s | 429 share | max in any 1 s window |")
    print("|---|---|---|---|---|---|---|")
    for q in (5, 50, 500):
        secs = 8 if QUICK else 20
        n = q * secs
        inv = os.path.join(tmp, f"q{q}.csv")
        inventory(inv, n)
        sim = Sim(inv, "--rate", str(q), "--latency-ms", "150")
        run = os.path.join(tmp, f"q{q}-run")
        try:
            gslbatch(["check-real-name", inv, "--endpoint", sim.url, "--rate", str(q), "--run-dir", run], timeout=secs * 4 + 60)
            st = sim.stats()
        finally:
            sim.stop()
        s = json.load(open(os.path.join(run, "summary.json")))
        rate = s["achieved_rate"]
        share = s["throttled"] / max(1, s["calls"])
        peak = st["max_requests_in_any_second"].get("real-named")
        print(f"| {q} | {n} | {rate:.2f} | {rate / q:.4f} | {s['throttled']} | {share:.2%} | {peak} |")
    print()


def overhead(tmp):
    n = 20_000 if QUICK else 100_000
    print(f"## 2. Engine overhead ({n:,} check-real-name rows, no throttle, no latency; median of 3)")
    inv = os.path.join(tmp, "o.csv")
    inventory(inv, n)
    sim = Sim(inv)
    windows = [("default window", []), ("--concurrency 64", ["--concurrency", "64"])]
    rows, calls, ohas = {}, {}, []
    oha = shutil.which("oha")
    try:
        for i in range(3):
            # Interleaved, so that a slow moment of the machine falls on every column alike.
            for label, binary in reversed(CLIENTS):
                for wlabel, extra in windows:
                    run = os.path.join(tmp, f"o-run{i}-{len(rows)}")
                    wall, _ = gslbatch(["check-real-name", inv, "--endpoint", sim.url, "--rate", "1000000",
                                        "--run-dir", run, *extra], timeout=600, binary=binary)
                    s = json.load(open(os.path.join(run, "summary.json")))
                    assert s["counts"]["ok"] == n, s["counts"]
                    shutil.rmtree(run, ignore_errors=True)
                    rows.setdefault((label, wlabel), []).append(n / wall)
                    calls.setdefault((label, wlabel), []).append(s["achieved_rate"])
            if oha:
                iccid = open(inv).read().split("\n")[1]
                r = subprocess.run([oha, "-n", str(n), "-c", "64", "--no-tui", "--output-format", "json",
                                    "-H", f"X-Auth-Token: {TOKEN}",
                                    f"{sim.url}/v1/sim-cards/0/real-named?iccid={iccid}"],
                                   capture_output=True, text=True, timeout=600)
                ohas.append(json.loads(r.stdout)["summary"]["requestsPerSec"])
    finally:
        sim.stop()
    m_oha = statistics.median(ohas) if ohas else None
    print("| client | window | rows/s end to end (ingest + calls + journal + report) | calls/s while sending | rows/s as a share of oha |")
    print("|---|---|---|---|---|")
    for (label, wlabel), r in rows.items():
        m = statistics.median(r)
        share = f"{m / m_oha:.0%}" if m_oha else "-"
        print(f"| gslbatch, {label} | {wlabel} | {m:,.0f} | {statistics.median(calls[(label, wlabel)]):,.0f} | {share} |")
    if m_oha:
        print(f"| oha (raw HTTP, no bookkeeping) | -c 64 | {m_oha:,.0f} requests/s | | 100% |")
    else:
        print("| oha | not installed (`cargo install oha`) | | | |")
    print()


def memory(tmp):
    n = 200_000 if QUICK else 1_000_000
    print(f"## 3. Memory ({n:,}-row check-real-name run, /usr/bin/time -v)")
    inv = os.path.join(tmp, "m.csv")
    inventory(inv, n)
    sim = Sim(inv)
    results = []
    try:
        for label, binary in CLIENTS:
            run = os.path.join(tmp, f"m-run-{len(results)}")
            wall, rss = gslbatch(["check-real-name", inv, "--endpoint", sim.url, "--rate", "1000000", "--run-dir", run],
                                 timeout=900, timed=True, binary=binary)
            shutil.rmtree(run, ignore_errors=True)
            results.append((label, wall, rss))
    finally:
        sim.stop()
    print("| client | rows | wall s | peak RSS MB |")
    print("|---|---|---|---|")
    for label, wall, rss in results:
        print(f"| gslbatch, {label} | {n:,} | {wall:.1f} | {rss:.1f} |")
    print()


def follow(tmp):
    n = 20_000 if QUICK else 100_000
    print(f"## 4. follow of a {n:,}-card clear run, 1% of the work orders failed")
    inv = os.path.join(tmp, "f.csv")
    inventory(inv, n)
    sim = Sim(inv, "--work-order-secs", "0", "--work-order-fail-rate", "0.01")
    try:
        run = os.path.join(tmp, "f-run")
        gslbatch(["clear-real-name", inv, "--endpoint", sim.url, "--rate", "1000000", "--yes", "--run-dir", run], timeout=900)
        before = sim.stats()["calls"]
        wall, rss = gslbatch(["follow", run, "--rate", "1000000"], timeout=900, timed=True)
        after = sim.stats()["calls"]
    finally:
        sim.stop()
    used = {api: sum(after.get(api, {}).values()) - sum(before.get(api, {}).values())
            for api in ("work-orders", "work-order-details")}
    total = sum(used.values())
    print("| cards | work-order list calls | detail calls | wall s (unthrottled) | peak RSS MB | at 5/s | one detail read per card at 5/s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {n:,} | {used['work-orders']:,} | {used['work-order-details']:,} | {wall:.1f} | {rss:.1f} "
          f"| {total / 5 / 60:.1f} min | {n / 5 / 3600:.1f} h |")
    print()


def main():
    if not os.path.exists(BIN):
        raise SystemExit(f"{BIN} not found: run `cargo build --release` first")
    tmp = tempfile.mkdtemp(prefix="gslbatch-bench-")
    try:
        print(f"machine: {os.cpu_count()} cores; binary: {BIN}" + (f"; before: {BEFORE}" if BEFORE else "") + "\n")
        only = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")]
        for name, part in (("quota", quota), ("overhead", overhead), ("memory", memory), ("follow", follow)):
            if not only or name in only:
                part(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

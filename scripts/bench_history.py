#!/usr/bin/env python3
"""The history's cost (issue 27): disk and time, against `gslbatch simulate` on 127.0.0.1.

    cargo build --release && python3 scripts/bench_history.py [--cards N] [--runs R] [--repeat K]

1. Disk: R inventory runs and R usage runs of N cards (defaults 100,000 × 30), a simulated day
   passing between usage runs; the history file's size (with its WAL) after each kind.
2. Time: K interleaved inventory runs of the same N cards each with --no-history, with the
   history (a snapshot, no comparison) and with --compare-with previous; medians, and the peak
   RSS of each (from /usr/bin/time -v when it is there).

Every server is a child process on loopback; every run is bounded by a timeout.
"""
import json, os, re, shutil, statistics, subprocess, sys, tempfile, time, urllib.request

import _harness as h

BIN = h.BIN
TOKEN = "bench-token"


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


CARDS, RUNS, REPEAT = arg("--cards", 100_000), arg("--runs", 30), arg("--repeat", 5)


class Sim:
    def __init__(self, cards):
        env = dict(os.environ, GSL_SIM_TOKEN=TOKEN)
        self.p = subprocess.Popen([BIN, "-q", "simulate", "--listen", "127.0.0.1:0", "--cards", str(cards)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        m = re.match(r"listening on (\S+)", self.p.stdout.readline())
        if not m:
            self.p.kill()
            raise SystemExit("simulator did not start")
        self.url = m.group(1)

    def control(self, body):
        req = urllib.request.Request(self.url + "/__sim/usage", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def gslbatch(args, state, timeout=600):
    """One run: (exit code, seconds, peak RSS in MB or None)."""
    env = dict(os.environ, GSL_AUTH_TOKEN=TOKEN, GSL_STATE_DIR=state)
    time_bin = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    cmd = ([time_bin, "-v"] if time_bin else []) + [BIN, "-q", *args]
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    if p.returncode not in (0, 5):
        raise SystemExit(f"gslbatch {' '.join(args)}: exit {p.returncode}: {p.stderr[-2000:]}")
    return p.returncode, took, (int(rss.group(1)) / 1024 if rss else None)


def size_mb(state):
    total = 0
    for root, _, files in os.walk(os.path.join(state, "history")):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total / 1e6


def main():
    h.require_binary()
    tmp = tempfile.mkdtemp(prefix="bench-history-")
    sim = Sim(CARDS)
    try:
        state = os.path.join(tmp, "state")
        inv = ["inventory", "--endpoint", sim.url, "--list-rate", "1000",
               "--report", os.path.join(tmp, "inv.csv")]
        use = ["usage", "--endpoint", sim.url, "--list-rate", "1000", "--rate", "5000",
               "--report", os.path.join(tmp, "usage.csv")]
        print(f"history of {CARDS:,} cards × {RUNS} runs:")
        for i in range(RUNS):
            gslbatch(inv + ["--compare-with", "previous", "--keep", str(RUNS)], state)
        inv_mb = size_mb(state)
        print(f"  inventory: {inv_mb:.1f} MB after {RUNS} runs")
        for i in range(RUNS):
            sim.control({"advance_days": 1})
            gslbatch(use + ["--keep", str(RUNS)], state)
        both = size_mb(state)
        print(f"  usage: {both - inv_mb:.1f} MB after {RUNS} runs (file now {both:.1f} MB with both jobs)")
        # Once more of each: pruning keeps the size where it is.
        gslbatch(inv + ["--keep", str(RUNS)], state)
        print(f"  one more inventory run, pruned to {RUNS}: {size_mb(state):.1f} MB")

        print(f"inventory of {CARDS:,} cards, {REPEAT} interleaved runs each (medians):")
        modes = {"--no-history": ["--no-history"], "history, no comparison": [],
                 "--compare-with previous": ["--compare-with", "previous"]}
        times = {m: [] for m in modes}
        rss = {m: [] for m in modes}
        for _ in range(REPEAT):
            for m, extra in modes.items():
                _, took, r = gslbatch(inv + extra, os.path.join(tmp, "state-time"))
                times[m].append(took)
                if r:
                    rss[m].append(r)
        base = statistics.median(times["--no-history"])
        for m in modes:
            med = statistics.median(times[m])
            peak = f", peak RSS {statistics.median(rss[m]):.0f} MB" if rss[m] else ""
            print(f"  {m:26} {med:6.2f} s (+{med - base:.2f} s){peak}")
    finally:
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

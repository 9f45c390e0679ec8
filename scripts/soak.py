#!/usr/bin/env python3
"""Soak: one long check-real-name run at a few hundred calls/s against a faulty simulator,
watching the gslbatch process for leaks (RSS, file descriptors) and for throughput decay.

    python3 scripts/soak.py [--minutes 30] [--rate 300]      # --minutes 2 for a quick check

Simulator: --busy-rate 0.05 --drop-rate 0.01 --slow-rate 0.005 --latency-ms 50 on 127.0.0.1:0;
client: --rate R --timeout 2, over rate x minutes x 60 (+10%) rows so it never runs dry. Every
--interval seconds (default 60): VmRSS from /proc/PID/status, open fds from /proc/PID/fd, rows
finished from `gslbatch status RUN_DIR --json`. At the end the run gets SIGTERM (it exits 130,
resumable). Verdict (exit 1 if any fails):
  memory flat       last RSS <= first sample's RSS x 1.5 + 20 MB
  fds flat          |last fds - first fds| <= 10
  throughput holds  mean of the last 5 samples >= 90% of the mean of the first 5 (the first
                    sample, which includes start-up and reading the input, left out; shorter runs
                    compare shorter windows that do not overlap where possible)
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def finished(st):
    c = (st or {}).get("counts", {})
    return sum(v for k, v in c.items() if k not in ("pending", "inflight"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=int, default=300)
    ap.add_argument("--interval", type=float, default=60, help="seconds between samples")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    a = ap.parse_args()
    h.require_binary()
    samples_wanted = max(2, int(round(a.minutes * 60 / a.interval)))
    rows = int(a.rate * a.minutes * 60 * 1.1) + 1000
    tmp = tempfile.mkdtemp(prefix="gslbatch-soak-")
    failures = []
    try:
        cards = h.iccids(rows // 2, h.TELECOM) + h.iccids(rows - rows // 2, h.MOBILE, start=rows)
        inv = os.path.join(tmp, "inventory.csv")
        h.write_inventory(inv, cards, real_named=lambda i: i % 3 != 0)
        run_dir = os.path.join(tmp, "run")
        env = h.client_env(os.path.join(tmp, "state"))
        print(f"binary: {h.BIN}; {rows:,} rows; --rate {a.rate}; {samples_wanted} samples every {a.interval:.0f} s")
        sim_args = ["--busy-rate", "0.05", "--drop-rate", "0.01", "--slow-rate", "0.005", "--latency-ms", "50"]
        with h.Sim(inv, sim_args, log=os.path.join(tmp, "sim.err")) as sim:
            err = open(os.path.join(tmp, "client.err"), "w")
            p = subprocess.Popen([h.BIN, "-q", "check-real-name", inv, "--endpoint", sim.url, "--run-dir", run_dir,
                                  "--rate", str(a.rate), "--timeout", "2"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
            t0 = time.monotonic()
            table = []
            prev = 0
            print("\n| minute | RSS MB | open fds | rows finished | rows/min | calls/s (status) |")
            print("|---|---|---|---|---|---|")
            for i in range(1, samples_wanted + 1):
                due = t0 + i * a.interval
                while time.monotonic() < due and p.poll() is None:
                    time.sleep(min(1.0, max(0.0, due - time.monotonic())))
                if p.poll() is not None:
                    failures.append(f"gslbatch exited {p.returncode} before the soak ended (at sample {i})")
                    break
                r, f = rss_mb(p.pid), fds(p.pid)
                st = h.status_json(run_dir, env)
                done = finished(st)
                per_min = (done - prev) * 60 / a.interval
                prev = done
                rate = (st or {}).get("rate")
                table.append((i, r, f, done, per_min))
                print(f"| {i * a.interval / 60:.0f} | {r:.1f} | {f} | {done:,} | {per_min:,.0f} | "
                      f"{'-' if rate is None else f'{rate:.1f}'} |", flush=True)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    code = p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
                    code = "killed after 60 s"
                    failures.append("gslbatch did not stop within 60 s of SIGTERM")
            else:
                code = p.returncode
            err.close()
            stats = sim.stats()
        calls = stats["calls"]["real-named"]
        print(f"\nclient exit after SIGTERM: {code}; simulator real-named calls: "
              + ", ".join(f"{k} {v:,}" for k, v in calls.items() if v))
        st = h.status_json(run_dir, env) or {}
        print(f"journal: {st.get('counts')}")
        if len(table) >= 2:
            first_rss, last_rss = table[0][1], table[-1][1]
            lim = first_rss * 1.5 + 20
            ok = last_rss <= lim
            print(f"memory flat: last RSS {last_rss:.1f} MB <= {first_rss:.1f} x 1.5 + 20 = {lim:.1f} MB: "
                  f"{'PASS' if ok else 'FAIL'}")
            if not ok:
                failures.append("memory grew")
            d = table[-1][2] - table[0][2]
            ok = abs(d) <= 10
            print(f"fds flat: {table[0][2]} -> {table[-1][2]} ({d:+d}, limit +-10): {'PASS' if ok else 'FAIL'}")
            if not ok:
                failures.append("fds grew")
            rates = [t[4] for t in table[1:]]
            w = min(5, max(1, len(rates) // 2))
            head, tail = rates[:w], rates[-w:]
            mh, mt = sum(head) / w, sum(tail) / w
            ok = mt >= 0.9 * mh
            print(f"throughput holds: mean of last {w} samples {mt:,.0f} rows/min >= 90% of first {w} "
                  f"(excluding the first) {mh:,.0f}: {'PASS' if ok else 'FAIL'}")
            if not ok:
                failures.append("throughput decayed")
        else:
            failures.append("fewer than two samples")
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nverdict:", "PASS" if not failures else "FAIL: " + "; ".join(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

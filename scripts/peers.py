#!/usr/bin/env python3
"""gslbatch side by side with what an operator would otherwise use, against the same simulator.

    python3 scripts/peers.py [--cards 10000] [--venv DIR] [--only check|clear]

1. Real-name check of N cards, simulator `--rate 200 --latency-ms 100`:
   (a) gslbatch --rate 200 (AK/SK), (b) Huawei's official Python SDK in a ThreadPoolExecutor(32)
   (scripts/peers/sdk_threadpool.py: no rate limiting, retry on exception), (c) xargs -P 32 curl
   with the token (scripts/peers/xargs_curl.sh), (d) oha on one card's URL (raw-HTTP bound).
2. Real-name clearing of N China Telecom cards, the same plus `--drop-rate 0.02` (the work is
   done, then the connection closes unanswered): (a)-(c), counting cards cleared twice and cards
   whose outcome the tool's report gets wrong or leaves unknown.

A fresh simulator per tool, so stats do not mix; each tool runs under
`/usr/bin/time -f '%e %U %S %M'` (CPU = user + sys of the tool's process tree; peak RSS = the
largest single process of it) and a timeout. The SDK goes into a throwaway venv under the temp
dir (`pip install huaweicloudsdkgsl`) unless --venv names one to reuse.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 900


def timed(cmd, env, stdin=None, stdout=None, timeout=TIMEOUT):
    """Run under /usr/bin/time; returns (exit code, wall s, cpu s, peak RSS MB, stdout text)."""
    tf = tempfile.NamedTemporaryFile("r", suffix=".time", delete=False)
    full = ["/usr/bin/time", "-o", tf.name, "-f", "%e %U %S %M", *cmd]
    try:
        r = subprocess.run(full, env=env, stdin=stdin, stdout=stdout or subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, timeout, float("nan"), float("nan"), ""
    line = open(tf.name).read().strip().splitlines()[-1]
    os.unlink(tf.name)
    e, u, s, m = line.split()
    return r.returncode, float(e), float(u) + float(s), int(m) / 1024, (r.stdout or "") + r.stderr[-2000:]


def ensure_venv(tmp, venv):
    if venv and os.path.exists(os.path.join(venv, "bin", "python")):
        return os.path.join(venv, "bin", "python")
    venv = venv or os.path.join(tmp, "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet", "huaweicloudsdkgsl"],
                   check=True, timeout=600)
    return os.path.join(venv, "bin", "python")


class Bench:
    def __init__(self, a, tmp, py):
        self.a, self.tmp, self.py = a, tmp, py

    def sim(self, inv, faults, name):
        return h.Sim(inv, ["--rate", "200", "--latency-ms", "100", *faults],
                     log=os.path.join(self.tmp, f"{name}.sim.err"))

    # Each tool returns {iccid: outcome} where outcome is ("ok", value) | ("failed", why) |
    # ("unknown", why), or None when it keeps no per-card report (oha).

    def gslbatch(self, op, url, inp, name):
        run_dir = os.path.join(self.tmp, name)
        env = h.client_env(os.path.join(self.tmp, name + ".state"), aksk=True)
        cmd = [h.BIN, "-q", op, inp, "--endpoint", url, "--run-dir", run_dir, "--rate", "200"]
        if op == "clear-real-name":
            cmd.append("--yes")
        res = timed(cmd, env)
        return res, self.gslbatch_report(run_dir)

    @staticmethod
    def gslbatch_report(run_dir):
        out = {}
        for r in h.read_csv(os.path.join(run_dir, "report.csv")):
            val = r["real_named"] if r.get("real_named") else r.get("work_order_id", "")
            out[r["iccid"]] = (r["status"], val if r["status"] == "ok" else r["error_code"] or r["error_msg"])
        return out

    def follow(self, name):
        run_dir = os.path.join(self.tmp, name)
        env = h.client_env(os.path.join(self.tmp, name + ".state"), aksk=True)
        for _ in range(10):
            r = subprocess.run([h.BIN, "-q", "follow", run_dir], env=env, timeout=600,
                               capture_output=True, text=True)
            if r.returncode != 1:
                break
            time.sleep(3)
        subprocess.run([h.BIN, "-q", "report", run_dir], env=env, timeout=300, capture_output=True)
        return self.gslbatch_report(run_dir)

    def sdk(self, op, url, inp, name):
        out = os.path.join(self.tmp, name + ".csv")
        env = h.clean_env(HUAWEICLOUD_SDK_AK=h.AK, HUAWEICLOUD_SDK_SK=h.SK,
                          HUAWEICLOUD_SDK_PROJECT_ID=h.PROJECT_ID)
        res = timed([self.py, os.path.join(HERE, "peers", "sdk_threadpool.py"),
                     "check" if op == "check-real-name" else "clear", inp, out, url], env)
        rows = {}
        if os.path.exists(out):
            for r in h.read_csv(out):
                o = r["outcome"]
                rows[r["iccid"]] = ("failed", o) if o.startswith("error:") else ("ok", o)
        return res, rows

    def curl(self, op, url, inp, name):
        out = os.path.join(self.tmp, name + ".tsv")
        lst = os.path.join(self.tmp, name + ".txt")
        with open(lst, "w") as f:
            f.writelines(r["iccid"] + "\n" for r in h.read_csv(inp))
        env = h.clean_env(GSL_AUTH_TOKEN=h.TOKEN)
        with open(lst) as i, open(out, "w") as o:
            res = timed(["bash", os.path.join(HERE, "peers", "xargs_curl.sh"),
                         "check" if op == "check-real-name" else "clear", url], env, stdin=i, stdout=o)
        rows = {}
        for line in open(out):
            parts = line.rstrip("\n").split("\t", 2)
            if len(parts) < 3:
                continue
            iccid, code, body = parts
            try:
                j = json.loads(body)
            except ValueError:
                j = {}
            if code == "200" and "real_named" in j:
                rows[iccid] = ("ok", str(j["real_named"]).lower())
            elif code == "200" and "work_order_id" in j:
                rows[iccid] = ("ok", str(j["work_order_id"]))
            else:
                rows[iccid] = ("failed", f"http {code} {j.get('error_code', '')}")
        return res, rows

    def oha(self, op, url, inp, name):
        oha = shutil.which("oha") or os.path.expanduser("~/.cargo/bin/oha")
        if not os.path.exists(oha):
            return (None, 0, 0, 0, "oha not installed (cargo install oha)"), None
        iccid = h.read_csv(inp)[0]["iccid"]
        res = timed([oha, "-n", str(self.a.cards), "-c", "32", "--no-tui", "--output-format", "json",
                     "-H", f"X-Auth-Token: {h.TOKEN}", f"{url}/v1/sim-cards/0/real-named?iccid={iccid}"],
                    h.clean_env())
        return res, None

    def table(self, title, op, inv, inp, truth, faults, tools, clear):
        print(f"\n## {title}\n")
        if clear:
            print("| tool | wall s | calls/s | ok calls/s | 429s | dropped | cleared twice | wrong | unknown | "
                  "missing | CPU s | peak RSS MB |")
            print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        else:
            print("| tool | wall s | calls/s | ok calls/s | 429s | correct rows | CPU s | peak RSS MB |")
            print("|---|---|---|---|---|---|---|---|")
        for label, fn in tools:
            name = f"{op}-{label.split()[0]}"
            with self.sim(inv, faults, name) as sim:
                (code, wall, cpu, rss, tail), rows = fn(op, sim.url, inp, name)
                api = "clear-real-name" if clear else "real-named"
                st = sim.stats()
                followed = None
                if clear and label.startswith("gslbatch") and h.has_subcommand("follow"):
                    followed = self.follow(name)
                    st = sim.stats()
            if code is None:
                print(f"| {label} | timed out after {wall:.0f} s | | | | | | | | | | |")
                continue
            total = h.calls_total(st, api)
            ok_calls = h.calls(st, api, "ok") + h.calls(st, api, "dropped")
            cols = [label, f"{wall:.1f}", f"{total / wall:.1f}", f"{ok_calls / wall:.1f}",
                    f"{h.calls(st, api, 'throttled'):,}"]
            if clear:
                per = st.get("clear_calls_per_card", {})
                for suffix, rr in (("", rows), (" + follow", followed)):
                    if rr is None:
                        continue
                    twice = sum(1 for n in per.values() if n > 1)
                    wrong = unknown = 0
                    for c in truth:
                        s = rr.get(c, ("missing", ""))[0]
                        done = per.get(c, 0) >= 1
                        if s == "unknown":
                            unknown += 1
                        elif (s == "ok") != done and s != "missing":
                            wrong += 1
                    missing = sum(1 for c in truth if c not in rr)
                    print("| " + " | ".join([label + suffix] + cols[1:] + [
                        f"{h.calls(st, api, 'dropped'):,}", f"{twice:,}", f"{wrong:,}", f"{unknown:,}",
                        f"{missing:,}", f"{cpu:.1f}", f"{rss:.0f}"]) + " |", flush=True)
            else:
                if rows is None:
                    correct = "n/a"
                else:
                    correct = sum(1 for c, want in truth.items()
                                  if rows.get(c, ("", ""))[0] == "ok" and rows[c][1] == want)
                    correct = f"{correct:,} / {len(truth):,}"
                print("| " + " | ".join(cols + [correct, f"{cpu:.1f}", f"{rss:.0f}"]) + " |", flush=True)
            if code not in (0, 1):
                print(f"\n(note: {label} exited {code}: {tail.strip()[-300:]})\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cards", type=int, default=10000)
    ap.add_argument("--venv", help="reuse (or create) this venv for huaweicloudsdkgsl")
    ap.add_argument("--only", choices=["check", "clear"])
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    h.require_binary()
    tmp = tempfile.mkdtemp(prefix="gslbatch-peers-")
    try:
        py = ensure_venv(tmp, a.venv)
        b = Bench(a, tmp, py)
        print(f"machine: {os.cpu_count()} cores; binary: {h.BIN}; {a.cards:,} cards")
        if a.only in (None, "check"):
            cards = h.iccids(a.cards // 2, h.TELECOM) + h.iccids(a.cards - a.cards // 2, h.MOBILE, start=a.cards)
            inv = os.path.join(tmp, "check-inv.csv")
            h.write_inventory(inv, cards, real_named=lambda i: i % 3 != 0)
            truth = {c: ("true" if i % 3 != 0 else "false") for i, c in enumerate(cards)}
            inp = os.path.join(tmp, "check-in.csv")
            h.write_input(inp, cards)
            b.table(f"Real-name check, {a.cards:,} cards (simulator --rate 200 --latency-ms 100)",
                    "check-real-name", inv, inp, truth, [],
                    [("gslbatch --rate 200", b.gslbatch), ("SDK ThreadPoolExecutor(32)", b.sdk),
                     ("xargs -P 32 curl", b.curl), ("oha -c 32 (one URL, raw HTTP)", b.oha)], clear=False)
        if a.only in (None, "clear"):
            cards = h.iccids(a.cards, h.TELECOM)
            inv = os.path.join(tmp, "clear-inv.csv")
            h.write_inventory(inv, cards)
            inp = os.path.join(tmp, "clear-in.csv")
            h.write_input(inp, cards)
            b.table(f"Real-name clearing, {a.cards:,} China Telecom cards (simulator --rate 200 "
                    "--latency-ms 100 --drop-rate 0.02)", "clear-real-name", inv, inp,
                    {c: None for c in cards}, ["--drop-rate", "0.02", "--work-order-secs", "1"],
                    [("gslbatch --rate 200", b.gslbatch), ("SDK ThreadPoolExecutor(32)", b.sdk),
                     ("xargs -P 32 curl", b.curl)], clear=True)
        print("\ncalls/s: every call the simulator received / wall; ok calls/s: calls that did the work; "
              "wrong: the report says ok but nothing happened, or failed but the card was cleared; "
              "unknown: the report says it cannot know; missing: no row in the report.")
    finally:
        if a.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

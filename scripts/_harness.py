"""Shared pieces of the hardening scripts (crash_loop.py, soak.py, peers.py).

The binary comes from $GSLBATCH (default target/release/gslbatch in the repo). Every simulator is
a child process on 127.0.0.1:0 with its credentials in its environment, never in argv; every
wait here is bounded.
"""
import json
import os
import re
import subprocess
import threading
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("GSLBATCH", os.path.join(ROOT, "target", "release", "gslbatch"))
TOKEN = "hardening-token"
AK = "HARDENINGAK000000001"
SK = "hardening-secret-key"
PROJECT_ID = "0123456789abcdef0123456789abcdef"

TELECOM = "898603"
MOBILE = "898600"


def require_binary():
    if not os.path.exists(BIN):
        raise SystemExit(f"{BIN} not found: run `cargo build --release` or set GSLBATCH")


def luhn(s):
    tot = 0
    for i, ch in enumerate(reversed(s)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        tot += d
    return str((10 - tot % 10) % 10)


def iccids(n, prefix=TELECOM, start=0):
    """n distinct 20-digit ICCIDs with a valid Luhn digit."""
    out = []
    for i in range(start, start + n):
        body = prefix + "%013d" % i
        out.append(body + luhn(body))
    return out


def write_inventory(path, cards, real_named=None, sms_plan=None, order_id=None):
    """The simulator's --inventory CSV; optional columns are filled from the given callables."""
    cols = ["iccid"]
    if real_named:
        cols.append("real_named")
    if sms_plan:
        cols.append("sms_plan")
    if order_id:
        cols.append("order_id")
    with open(path, "w") as f:
        f.write(",".join(cols) + "\n")
        for i, c in enumerate(cards):
            row = [c]
            if real_named:
                row.append("true" if real_named(i) else "false")
            if sms_plan:
                row.append("true" if sms_plan(i) else "false")
            if order_id:
                row.append(str(order_id(i)))
            f.write(",".join(row) + "\n")


def write_input(path, cards, column="iccid"):
    with open(path, "w") as f:
        f.write(column + "\n")
        for c in cards:
            f.write(c + "\n")


def clean_env(state_dir=None, **extra):
    """The environment without any developer credentials or endpoint, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUAWEICLOUD_SDK_", "GSL_")) and k != "RUST_LOG"}
    if state_dir:
        env["GSL_STATE_DIR"] = state_dir
    env.update(extra)
    return env


def client_env(state_dir, aksk=False):
    """gslbatch's environment: the token (or AK/SK) the simulator accepts."""
    if aksk:
        return clean_env(state_dir, HUAWEICLOUD_SDK_AK=AK, HUAWEICLOUD_SDK_SK=SK)
    return clean_env(state_dir, GSL_AUTH_TOKEN=TOKEN)


class Sim:
    """`gslbatch simulate` on a free loopback port, accepting TOKEN and AK/SK."""

    def __init__(self, inventory, args=(), log=os.devnull):
        env = clean_env(GSL_SIM_TOKEN=TOKEN, GSL_SIM_AK=AK, GSL_SIM_SK=SK)
        self.err = open(log, "w")
        self.p = subprocess.Popen(
            [BIN, "-q", "simulate", "--listen", "127.0.0.1:0", "--inventory", inventory, *args],
            stdout=subprocess.PIPE, stderr=self.err, env=env, text=True)
        line = [None]
        t = threading.Thread(target=lambda: line.__setitem__(0, self.p.stdout.readline()), daemon=True)
        t.start()
        t.join(60)
        m = re.match(r"listening on (\S+)", line[0] or "")
        if not m:
            self.stop()
            raise SystemExit(f"simulator did not start: {line[0]!r} (log: {log})")
        self.url = m.group(1)

    def stats(self):
        with urllib.request.urlopen(self.url + "/__sim/stats", timeout=30) as r:
            return json.load(r)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(10)
        self.err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def has_subcommand(name):
    """Whether this build of gslbatch has `name` (its --help exits 0)."""
    r = subprocess.run([BIN, name, "--help"], capture_output=True, timeout=30)
    return r.returncode == 0


def status_json(run_dir, env, timeout=30):
    r = subprocess.run([BIN, "status", run_dir, "--json"], capture_output=True, text=True,
                       env=env, timeout=timeout)
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def read_csv(path):
    import csv
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def calls(stats, api, outcome):
    return stats["calls"].get(api, {}).get(outcome, 0)


def calls_total(stats, api):
    return sum(stats["calls"].get(api, {}).values())

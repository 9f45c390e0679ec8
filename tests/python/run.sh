#!/usr/bin/env bash
# Huawei's official Python SDK against `gslbatch simulate`.
#
# Creates a throwaway venv in a temp dir, installs huaweicloudsdkgsl, starts the simulator on a
# free port with AK/SK credentials in its environment, reads the port from its first stdout line,
# runs sdk_compat.py, and stops the simulator.
#
#   GSLBATCH=/path/to/gslbatch tests/python/run.sh      (default: gslbatch on PATH)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
gslbatch="${GSLBATCH:-gslbatch}"
work="$(mktemp -d)"
sim_pid=""
cleanup() {
    if [[ -n "$sim_pid" ]]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet huaweicloudsdkgsl

export GSL_SIM_AK="SDKCOMPATAK$(date +%s)"
export GSL_SIM_SK="sdk-compat-$RANDOM-$RANDOM"
"$gslbatch" simulate --listen 127.0.0.1:0 --cards 200 --work-order-secs 0.5 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!

url=""
for _ in $(seq 1 100); do
    line="$(head -n 1 "$work/sim.out" 2>/dev/null || true)"
    if [[ "$line" == "listening on "* ]]; then url="${line#listening on }"; break; fi
    if ! kill -0 "$sim_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [[ -z "$url" ]]; then
    echo "simulator did not start:" >&2
    cat "$work/sim.err" >&2
    exit 1
fi

GSL_SIM_URL="$url" "$work/venv/bin/python" "$here/sdk_compat.py"

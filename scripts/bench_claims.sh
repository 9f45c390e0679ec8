#!/usr/bin/env bash
# The cost of the account ledger's claims: OLD_BIN and this build's release binary alternate
# clearing N China Telecom cards with no throttle against a fresh `gslbatch simulate` each time
# (127.0.0.1 only), ROUNDS rounds; prints rows/s per run. Quote medians.
#   OLD_BIN=/path/to/older/gslbatch N=20000 ROUNDS=3 bash scripts/bench_claims.sh
set -euo pipefail
N=${N:-20000}; ROUNDS=${ROUNDS:-3}
NEW=${GSLBATCH:-$(cd "$(dirname "$0")/.." && pwd)/target/release/gslbatch}
OLD=${OLD_BIN:?set OLD_BIN to the older build}
export GSL_SIM_AK=BENCHAK0000000001 GSL_SIM_SK=benchsecret
export HUAWEICLOUD_SDK_AK=BENCHAK0000000001 HUAWEICLOUD_SDK_SK=benchsecret
cd "$(mktemp -d)"
start_sim() {
  "$NEW" simulate --listen 127.0.0.1:0 --cards 70000 > sim.out 2>/dev/null & SP=$!
  for _ in $(seq 50); do [ -s sim.out ] && break; sleep 0.1; done
  EP=$(head -1 sim.out | sed 's/listening on //')
}
start_sim
GSL_STATE_DIR=$PWD/s0 "$NEW" inventory --endpoint "$EP" --list-rate 1000 --report fleet.csv -q 2>/dev/null
kill $SP; wait $SP 2>/dev/null || true
(echo iccid; awk -F, -v n="$N" 'NR>1 && $2 ~ /^8986(03|11)/ && c < n {print $2; c++}' fleet.csv) > in.csv
echo "rows $(($(wc -l < in.csv) - 1))"
for r in $(seq "$ROUNDS"); do
  for b in old new; do
    BIN=$OLD; [ $b = new ] && BIN=$NEW
    start_sim
    t0=$(date +%s.%N)
    GSL_STATE_DIR=$PWD/st-$b-$r "$BIN" clear-real-name in.csv --endpoint "$EP" --rate 100000 \
      --concurrency 64 --yes --run-dir run-$b-$r -q 2>/dev/null || true
    t1=$(date +%s.%N)
    ok=$(grep -c ',ok,' run-$b-$r/report.csv || true)
    echo "$b round $r: $(python3 -c "print(f'{$ok/($t1-$t0):.0f}')") rows/s (ok $ok)"
    kill $SP; wait $SP 2>/dev/null || true
  done
done

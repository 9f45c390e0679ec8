#!/usr/bin/env bash
# Runs the README's quick start and every jobs/*.toml as a rehearsal and as a --dry-run with the
# given binary, into OUT, with times, run ids and work-order numbers masked, so that two builds'
# outputs can be compared with `diff -r OUT_A OUT_B` (a refactor must change nothing else).
#   scripts/report_snapshot.sh target/release/gslbatch /tmp/before
set -uo pipefail
bin=$(realpath "$1"); out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$out"; mkdir -p "$out"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp -r "$root/jobs" "$root/samples" "$work/"
cd "$work"
mask() {
  # follow's progress lines depend on timing: only its outcome (in the report) is compared.
  grep -Ev '^follow: (waiting|[0-9]+ rows? read)' | sed -E -e "s#$work#<work>#g" -e 's/127\.0\.0\.1:[0-9]+/127.0.0.1:<port>/g' -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(Z|[+-][0-9:]+)?/<time>/g' \
    -e 's/[0-9]{8}-[0-9]{6}(-[0-9a-f]{16})?/<stamp>/g' \
    -e 's/[0-9]{8}T[0-9]{6}Z(-[0-9a-f]{16})?/<stamp>/g' \
    -e 's/(work_order_id[^0-9]*)[0-9]+/\1<wo>/g' \
    -e 's/[0-9]+(\.[0-9]+)? ?(ms|s)\b/<dur>/g' \
    -e 's/[0-9]+\.[0-9]+/<x>/g' -e 's/"(p50|p95|p99|max|min)": *[0-9]+/"\1": <n>/g' -e 's/pid [0-9]+/pid <pid>/g' \
    -e 's/^[0-9]+ calls \(throttled [0-9]+/<n> calls (throttled <n>/' -e 's/"(calls|throttled)": [0-9]+/"\1": <n>/' \
    -e 's/[0-9]+(\.[0-9]+)? calls\/s/<n> calls\/s/g' -e 's/"(latency|duration|rate)[a-z_]*": *[0-9.]+/"\1": <n>/g'
}
# A CSV's columns that change from run to run are blanked by name.
maskcsv() {
  python3 -c '
import csv, sys
r = csv.reader(sys.stdin); w = csv.writer(sys.stdout, lineterminator="\n")
head = next(r, None)
if head is None: sys.exit()
w.writerow(head)
vary = {i for i, h in enumerate(head) if h.lstrip("\ufeff") in ("work_order_id", "latency_ms", "finished_at", "order_created_at", "order_finished_at", "outcome_at")}
for row in r: w.writerow(["<v>" if i in vary and c else c for i, c in enumerate(row)])
' | mask
}
one() { # name, then the command's arguments
  local name=$1; shift
  GSL_STATE_DIR="$work/state-$name" NO_COLOR=1 "$bin" "$@" >"$work/o" 2>"$work/e"
  echo "exit $?" >"$out/$name.exit"
  mask <"$work/o" >"$out/$name.stdout"; mask <"$work/e" >"$out/$name.stderr"
  for f in "$work/rd-$name"/*.csv "$work/rd-$name"/summary.json "$work/rd-$name"/*/report.csv; do
    case $f in *.csv) [ -f "$f" ] && maskcsv <"$f" >"$out/$name.$(basename "$f")" ;;
               *) [ -f "$f" ] && mask <"$f" >"$out/$name.$(basename "$f")" ;; esac
  done
  [ -d "$work/rd-$name" ] && (cd "$work/rd-$name" && find . -type f | sort) >"$out/$name.files"
}
one quickstart clear-real-name samples/iccids.csv --rehearse --yes --run-dir "$work/rd-quickstart"
for job in jobs/*.toml; do
  n=$(basename "$job" .toml)
  one "$n" run "$job" --rehearse --yes --run-dir "$work/rd-$n"
  one "$n.dry" run "$job" --rehearse --dry-run --run-dir "$work/rd-$n.dry"
done
echo "wrote $(ls "$out" | wc -l) files to $out"

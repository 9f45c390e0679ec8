#!/usr/bin/env bash
# Rebuild docs/report.png, the README's picture: the quick start's rehearsal rendered as an HTML
# report (`--report report.html`) and photographed by headless Chromium (Debian's `chromium`).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cargo build -q --bin gslbatch
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# Exit 1 is expected: the sample holds cards of other carriers, a short ICCID and a duplicate.
GSL_STATE_DIR="$tmp/state" "$repo/target/debug/gslbatch" clear-real-name "$repo/samples/iccids.csv" \
    --rehearse --yes --run-dir runs/quick-start-rehearsal --report report.html -q || [ $? -eq 1 ]
mkdir -p "$repo/docs"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1250 \
    --user-data-dir="$tmp/profile" --screenshot="$repo/docs/report.png" "file://$tmp/report.html" 2>/dev/null
echo "docs/report.png written"

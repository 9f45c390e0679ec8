#!/usr/bin/env bash
# The shell one-liner an operator would reach for: xargs -P 32 running curl with the IAM token,
# one output line per card: ICCID<TAB>HTTP code<TAB>body (code 000 = no answer).
#
#   GSL_AUTH_TOKEN=... xargs_curl.sh check|clear ENDPOINT < iccids.txt > out.tsv
set -euo pipefail
op="$1"
export ENDPOINT="$2"
case "$op" in
    check) export METHOD=GET PATH_TAIL=real-named ;;
    clear) export METHOD=POST PATH_TAIL=clear-real-name ;;
    *) echo "usage: $0 check|clear ENDPOINT" >&2; exit 2 ;;
esac
: "${GSL_AUTH_TOKEN:?GSL_AUTH_TOKEN is not set}"
export GSL_AUTH_TOKEN
# The token goes in a header read from stdin (-H @-), so it is not in any process's argv.
xargs -P 32 -n 1 sh -c '
    body=$(printf "X-Auth-Token: %s\n" "$GSL_AUTH_TOKEN" | curl -s --max-time 30 -X "$METHOD" -H @- \
        -w "\t%{http_code}" "$ENDPOINT/v1/sim-cards/0/$PATH_TAIL?iccid=$1")
    code=${body##*	}
    printf "%s\t%s\t%s\n" "$1" "$code" "${body%	*}"
' _

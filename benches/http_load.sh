#!/usr/bin/env bash
# Requests per second through the axum Webhook<T> extractor vs a bare handler that only reads
# Bytes: same server build (examples/bench_server.rs), same requests from the same load
# generator (examples/bench_load.rs, a second process) over loopback. Routes are measured one
# after the other within each round, ROUNDS rounds; each route's figure is the median of its
# rounds with the spread, and its ratio to the bare handler is taken per round (same minute of
# machine load) and then summarised the same way.
#
# /fresh-floor is the bare handler plus the stages of a fresh delivery done by hand (HMAC check,
# typed parse, claim + complete; no Receiver, extractor, metrics or span): the ceiling for
# /fresh, and /fresh minus /fresh-floor is what the library adds to the unavoidable work.
#
# Fresh means fresh: every request to /bare and the /fresh* routes is a distinct signed body
# (its own Sam `data.id`, so its own dedupe key); /hook gets one delivery over and over (all
# duplicates after the first). Before timing, two requests with different ids go to each fresh
# route and the script fails if either is answered as a duplicate. After each run the server's
# counters must match the load generator's 2xx answers exactly (`fresh deliveries handled: H
# of R`), or the script fails.
#
#   benches/http_load.sh                      # 3 rounds x 5 s, 32 connections, + 1M-key run
#   DURATION=10s ROUNDS=5 CONNS=64 benches/http_load.sh
#   PREFILL=0 ALLOC_REQUESTS=0 benches/http_load.sh   # skip the pre-filled and allocation runs
#   SERVER=/tmp/old_bench_server benches/http_load.sh   # measure a saved build (A/B)
#   QUICK=1 PROFILE=debug benches/http_load.sh  # CI's test mode: 1 round x 1 s, small prefill
#
# Also reported: server CPU per request (from /proc/<pid>/stat), which is not diluted by the
# load generator's share of the two cores, and allocations per request (a second server run
# with a counting allocator, one connection, ALLOC_REQUESTS requests per route).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/load_lib.sh
hl_init

if [ -n "${QUICK:-}" ]; then
  DURATION=${DURATION:-1s} ROUNDS=${ROUNDS:-1} PREFILL=${PREFILL:-10000}
  ALLOC_REQUESTS=${ALLOC_REQUESTS:-200}
fi
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
ADDR=${ADDR:-127.0.0.1:3999}
PREFILL=${PREFILL:-1000000}
ALLOC_REQUESTS=${ALLOC_REQUESTS:-2000}
BASE="http://$ADDR"
TEMPLATE="$HL_WORK/template.json"
ROUTES=(bare hook fresh fresh-raw fresh-floor)

if [ -z "${SERVER:-}" ]; then
  hl_build bench_server
  SERVER=$HL_BIN/bench_server
elif [ -z "${LOADGEN:-}" ]; then
  hl_build
else
  HL_LOADGEN=$LOADGEN
fi

# The server counter that must rise by one per 2xx answer on each route.
stat_key() {
  case $1 in bare) echo bare ;; hook) echo hook.duplicate ;; *) echo "$1.fresh" ;; esac
}

# Requests: the same template and signing for every route; distinct ids except on /hook.
load_args() { # route id-prefix
  if [ "$1" = hook ]; then
    echo "--fixed dup-0000000"
  else
    echo "--id-prefix $2"
  fi
}

# session LABEL [server args...] : checks, ROUNDS timed rounds, summary.
session() {
  local label=$1; shift
  hl_start srv "$SERVER" "$ADDR" "$TEMPLATE" "$@"
  local sign pid
  sign=$(hl_var srv SIGN)
  pid=$HL_PID_srv
  grep prefilled "$HL_WORK/srv.log" || true

  hl_check_fresh "$BASE/fresh" "$sign" "$TEMPLATE" fresh.fresh
  hl_check_fresh "$BASE/fresh-raw" "$sign" "$TEMPLATE" fresh-raw.fresh
  hl_check_fresh "$BASE/fresh-floor" "$sign" "$TEMPLATE" fresh-floor.fresh
  # The duplicate route: its one delivery is fresh once, then a duplicate.
  local line
  line=$(hl_load --url "$BASE/hook" --template "$TEMPLATE" --sign "$sign" --conns 1 \
    --requests 2 --fixed dup-0000000)
  [ "$(hl_field "$line" duplicates)" = 1 ] ||
    { echo "/hook: the second of two identical deliveries was not a duplicate ($line)" >&2; exit 1; }
  echo "[$label] checks passed: /fresh, /fresh-raw and /fresh-floor handle two new ids fresh, /hook answers a repeat as a duplicate"

  declare -A rps cpu client ratio handled answered
  local route
  for route in "${ROUTES[@]}"; do rps[$route]=""; cpu[$route]=""; client[$route]=""; ratio[$route]=""
    handled[$route]=0; answered[$route]=0; done
  local round bare_rps key before after cpu0 cpu1 r ok h
  for round in $(seq "$ROUNDS"); do
    for route in "${ROUTES[@]}"; do
      key=$(stat_key "$route")
      before=$(hl_stat "$BASE" "$key")
      cpu0=$(hl_cpu_us "$pid")
      # shellcheck disable=SC2046 # load_args is a list of flags
      line=$(hl_load --url "$BASE/$route" --template "$TEMPLATE" --sign "$sign" \
        --conns "$CONNS" --duration "$DURATION" $(load_args "$route" "$label-r$round-"))
      cpu1=$(hl_cpu_us "$pid")
      after=$(hl_stat "$BASE" "$key")
      r=$(hl_field "$line" rps); ok=$(hl_field "$line" ok); h=$((after - before))
      if [ "$(hl_field "$line" non2xx)" != 0 ]; then
        echo "/$route: non-2xx answers: $line" >&2; exit 1
      fi
      case $route in
        fresh*)
          echo "[$label] round $round /$route $r req/s; fresh deliveries handled: $h of $ok"
          if [ "$h" != "$ok" ] || [ "$(hl_field "$line" duplicates)" != 0 ]; then
            echo "/$route: not every 2xx answer was a fresh delivery ($line)" >&2; exit 1
          fi ;;
        hook)
          echo "[$label] round $round /$route $r req/s; duplicates answered: $h of $ok"
          [ "$h" = "$ok" ] || { echo "/hook: not every answer was a duplicate ($line)" >&2; exit 1; } ;;
        *)
          echo "[$label] round $round /$route $r req/s"
          [ "$h" = "$ok" ] || { echo "/bare: handler count $h != $ok answers" >&2; exit 1; } ;;
      esac
      handled[$route]=$((handled[$route] + h)); answered[$route]=$((answered[$route] + ok))
      rps[$route]+=" $r"
      cpu[$route]+=" $(awk -v c=$((cpu1 - cpu0)) -v n="$ok" 'BEGIN {printf "%.3f", c / n}')"
      client[$route]+=" $(hl_field "$line" client_cpu_us)"
      [ "$route" = bare ] && bare_rps=$r
      ratio[$route]+=" $(awk -v a="$r" -v b="$bare_rps" 'BEGIN {printf "%.4f", 100 * a / b}')"
    done
  done
  # shellcheck disable=SC2086 # word-split lists of numbers
  {
    echo
    echo "[$label] $ROUNDS rounds x $DURATION, $CONNS connections, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "[$label] median (min-max, spread) over rounds:"
    local bare_cpu
    bare_cpu=$(hl_median ${cpu[bare]})
    for route in "${ROUTES[@]}"; do
      printf '  %-12s %s req/s' "/$route" "$(hl_summary ${rps[$route]})"
      [ "$route" = bare ] || printf ';  %s %% of bare' "$(hl_summary ${ratio[$route]})"
      printf ';  server CPU %s us/request' "$(hl_summary ${cpu[$route]})"
      [ "$route" = bare ] ||
        printf ' (%s %% of bare per CPU-second)' \
          "$(awk -v a="$bare_cpu" -v b="$(hl_median ${cpu[$route]})" 'BEGIN {printf "%.1f", 100 * a / b}')"
      printf ';  load generator CPU %s us/request' "$(hl_median ${client[$route]})"
      echo
    done
    for route in fresh fresh-raw fresh-floor; do
      echo "  /$route: fresh deliveries handled: ${handled[$route]} of ${answered[$route]}"
    done
  }
  for route in fresh fresh-raw fresh-floor; do
    [ "${handled[$route]}" = "${answered[$route]}" ] || { echo "/$route: mismatch" >&2; exit 1; }
  done
  echo "  server: $("$HL_LOADGEN" --url "$BASE/stats" --get)"
  hl_stop srv
  echo
}

# allocs : allocations per request per route, one connection, counting allocator on.
allocs() {
  hl_start srv "$SERVER" "$ADDR" "$TEMPLATE" --count-allocs
  local sign route a0 a1 idle
  sign=$(hl_var srv SIGN)
  # What two back-to-back /stats calls add between their readings, subtracted below.
  a0=$(hl_stat "$BASE" allocs); a1=$(hl_stat "$BASE" allocs); idle=$((a1 - a0))
  echo "allocations per request (counting allocator, $ALLOC_REQUESTS sequential requests per route):"
  for route in "${ROUTES[@]}"; do
    # shellcheck disable=SC2046
    hl_load --url "$BASE/$route" --template "$TEMPLATE" --sign "$sign" --conns 1 \
      --requests 200 $(load_args "$route" "warm-") >/dev/null
    a0=$(hl_stat "$BASE" allocs)
    # shellcheck disable=SC2046
    hl_load --url "$BASE/$route" --template "$TEMPLATE" --sign "$sign" --conns 1 \
      --requests "$ALLOC_REQUESTS" $(load_args "$route" "alloc-") >/dev/null
    a1=$(hl_stat "$BASE" allocs)
    printf '  %-12s %s\n' "/$route" \
      "$(awk -v d=$((a1 - a0 - idle)) -v n="$ALLOC_REQUESTS" 'BEGIN {printf "%.2f", d / n}')"
  done
  hl_stop srv
}

session empty
if [ "$PREFILL" != 0 ]; then
  session "prefilled-$PREFILL" --prefill "$PREFILL"
fi
if [ "$ALLOC_REQUESTS" != 0 ]; then
  allocs
fi

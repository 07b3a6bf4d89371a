#!/usr/bin/env bash
# Accepted deliveries per second into each inbox backend over HTTP, against the bare handler and
# the in-request Webhook<T> extractor: one server build (examples/bench_inbox_server.rs), the
# same requests from the same load generator (examples/bench_load.rs, a second process) over
# loopback, all routes in ONE run. Routes are measured one after the other within each round,
# ROUNDS rounds; a route's figure is the median of its rounds with the spread, its ratio to the
# bare handler is taken per round (same minute of machine load) and summarised the same way.
#
# Routes: /bare, /webhook (Webhook<StandardEvent>, verify + claim + parse + handler + complete in
# the request), /memory (MemoryInbox), /sqlite (SqliteInbox, defaults: synchronous=NORMAL,
# durable across kill -9, group commit), /sqlite-single (the same without group commit: what
# group commit buys), /redis when REDIS_URL is set, /postgres when DATABASE_URL is set (and the
# build has the feature). Each inbox route is the crate's axum inbox_route: verify, put, answer.
# /memory-floor is the bare handler plus, by hand, only the verify and the MemoryInbox put (no
# Receiver, route, metrics or span): the ceiling for /memory.
#
# Fresh means fresh: every request is a distinct Standard Webhooks delivery (its own signed
# webhook-id and body). Before timing, two requests with different ids go to each route and
# the script fails unless the server's inbox reports both puts as Accepted; after each run the
# server's count of Accepted puts (or handlers run, for /webhook) must equal the load
# generator's 2xx answers exactly, with no Duplicate and no non-2xx, or the script fails.
#
#   benches/inbox_load.sh                          # 3 rounds x 5 s, 32 connections
#   REDIS_URL=redis://127.0.0.1:6379/ DATABASE_URL=postgres://… benches/inbox_load.sh
#   DURATION=10s ROUNDS=5 CONNS=64 benches/inbox_load.sh
#   QUICK=1 PROFILE=debug CARGO_FEATURES=--all-features benches/inbox_load.sh  # CI: 1 x 1 s
#
# CARGO_FEATURES defaults to `--features axum,sqlite` plus redis/postgres when their URL is set.
# DATABASE_URL must be a database you may write to: the server drops and recreates the schema
# chathooks_inbox_bench. Redis keys go under a fresh chathooks-bench:inbox:<random>: prefix.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CARGO_FEATURES:-}" ]; then
  CARGO_FEATURES="--features axum,sqlite"
  [ -n "${REDIS_URL:-}" ] && CARGO_FEATURES+=",redis"
  [ -n "${DATABASE_URL:-}" ] && CARGO_FEATURES+=",postgres"
fi
source benches/load_lib.sh
hl_init

if [ -n "${QUICK:-}" ]; then
  DURATION=${DURATION:-1s} ROUNDS=${ROUNDS:-1}
fi
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
ADDR=${ADDR:-127.0.0.1:3997}
BASE="http://$ADDR"
TEMPLATE="$HL_WORK/template.json"

if [ -z "${SERVER:-}" ]; then
  hl_build bench_inbox_server
  SERVER=$HL_BIN/bench_inbox_server
else
  hl_build
fi

mkdir -p "$HL_WORK/db"
hl_start srv "$SERVER" "$ADDR" "$TEMPLATE" "$HL_WORK/db"
sign=$(hl_var srv SIGN)
pid=$HL_PID_srv
read -r -a INBOXES <<<"$(hl_var srv ROUTES)"
ROUTES=(bare webhook "${INBOXES[@]}")
[ -n "${REDIS_URL:-}" ] && [[ " ${INBOXES[*]} " != *" redis "* ]] &&
  echo "note: REDIS_URL is set but this build has no redis feature: /redis not measured" >&2
[ -n "${DATABASE_URL:-}" ] && [[ " ${INBOXES[*]} " != *" postgres "* ]] &&
  echo "note: DATABASE_URL is set but this build has no postgres feature: /postgres not measured" >&2

# The server counter that rises by one per fresh 2xx answer, and the one that must not move.
fresh_key() { case $1 in bare) echo bare ;; webhook) echo webhook.fresh ;; *) echo "$1.accepted" ;; esac; }
dup_key() { case $1 in bare) echo "" ;; webhook) echo webhook.duplicate ;; *) echo "$1.duplicate" ;; esac; }

for route in "${ROUTES[@]}"; do
  [ "$route" = bare ] && continue
  hl_check_fresh "$BASE/$route" "$sign" "$TEMPLATE" "$(fresh_key "$route")"
done
echo "checks passed: every route stores (or handles) two deliveries with new ids as fresh"

declare -A rps cpu ratio p50 p99 handled answered
for route in "${ROUTES[@]}"; do
  rps[$route]=""; cpu[$route]=""; ratio[$route]=""; p50[$route]=""; p99[$route]=""
  handled[$route]=0; answered[$route]=0
done
group_ratio=""
for round in $(seq "$ROUNDS"); do
  bare_rps=""
  for route in "${ROUTES[@]}"; do
    key=$(fresh_key "$route"); dkey=$(dup_key "$route")
    before=$(hl_stat "$BASE" "$key")
    dbefore=0; [ -n "$dkey" ] && dbefore=$(hl_stat "$BASE" "$dkey")
    cpu0=$(hl_cpu_us "$pid")
    line=$(hl_load --url "$BASE/$route" --template "$TEMPLATE" --sign "$sign" \
      --conns "$CONNS" --duration "$DURATION" --id-prefix "r$round-$route-")
    cpu1=$(hl_cpu_us "$pid")
    after=$(hl_stat "$BASE" "$key")
    dafter=0; [ -n "$dkey" ] && dafter=$(hl_stat "$BASE" "$dkey")
    r=$(hl_field "$line" rps); ok=$(hl_field "$line" ok); h=$((after - before))
    echo "round $round /$route $r req/s, p50 $(hl_field "$line" p50_us) us, p99 $(hl_field "$line" p99_us) us; fresh: $h of $ok 2xx"
    if [ "$(hl_field "$line" non2xx)" != 0 ]; then
      echo "/$route: non-2xx answers: $line" >&2; exit 1
    fi
    if [ "$h" != "$ok" ] || [ "$dafter" != "$dbefore" ]; then
      echo "/$route: not every 2xx answer stored a fresh delivery ($h fresh of $ok;" \
        "duplicates $dbefore -> $dafter; $line)" >&2
      exit 1
    fi
    handled[$route]=$((handled[$route] + h)); answered[$route]=$((answered[$route] + ok))
    rps[$route]+=" $r"
    p50[$route]+=" $(hl_field "$line" p50_us)"; p99[$route]+=" $(hl_field "$line" p99_us)"
    cpu[$route]+=" $(awk -v c=$((cpu1 - cpu0)) -v n="$ok" 'BEGIN {printf "%.3f", c / n}')"
    [ "$route" = bare ] && bare_rps=$r
    ratio[$route]+=" $(awk -v a="$r" -v b="$bare_rps" 'BEGIN {printf "%.4f", 100 * a / b}')"
    [ "$route" = sqlite ] && sqlite_rps=$r
    [ "$route" = sqlite-single ] &&
      group_ratio+=" $(awk -v a="$sqlite_rps" -v b="$r" 'BEGIN {printf "%.4f", a / b}')"
  done
done

goal() { case $1 in memory) echo 85 ;; redis) echo 50 ;; sqlite) echo 30 ;; postgres) echo 25 ;; *) echo "" ;; esac; }
# shellcheck disable=SC2086 # word-split lists of numbers
{
  echo
  echo "$ROUNDS rounds x $DURATION, $CONNS connections, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "median (min-max, spread) over rounds; latency = load generator's p50/p99 per round, median:"
  for route in "${ROUTES[@]}"; do
    printf '  %-15s %s req/s' "/$route" "$(hl_summary ${rps[$route]})"
    [ "$route" = bare ] || printf ';  %s %% of bare' "$(hl_summary ${ratio[$route]})"
    printf ';  p50 %s us, p99 %s us' "$(hl_median ${p50[$route]})" "$(hl_median ${p99[$route]})"
    printf ';  chathooks server CPU %s us/request' "$(hl_median ${cpu[$route]})"
    g=$(goal "$route")
    if [ -n "$g" ]; then
      m=$(hl_median ${ratio[$route]})
      printf ';  goal >= %s %%: %s' "$g" "$(awk -v m="$m" -v g="$g" 'BEGIN {print (m >= g) ? "met" : "NOT met"}')"
    fi
    echo
  done
  [ -n "$group_ratio" ] &&
    echo "  group commit: /sqlite is $(hl_summary $group_ratio) x /sqlite-single (one transaction per put)"
  for route in "${ROUTES[@]}"; do
    printf '  /%s: fresh %s of %s 2xx answers\n' "$route" "${handled[$route]}" "${answered[$route]}"
  done
}
echo "  server: $("$HL_LOADGEN" --url "$BASE/stats" --get)"
hl_stop srv

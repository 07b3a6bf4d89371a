#!/usr/bin/env bash
# Accepted deliveries per second into PostgresInbox against a bare handler: same server build
# (examples/bench_pg_server.rs, release), same payload, load from a second process (wrk) over
# loopback, every request a new delivery (ids counted in X-Delivery-Id). Routes are measured
# alternately, ROUNDS times each. Prints p50/p99 latency per route (wrk --latency).
#
#   source .ci/services.sh && benches/http_load_postgres.sh
#   DURATION=10s ROUNDS=3 CONNS=64 PG_CONNECTIONS=32 benches/http_load_postgres.sh
#
# Needs wrk (Debian: apt-get install -y wrk) and DATABASE_URL (a database you may write to:
# the server drops and recreates the schema chathooks_http_bench).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
ADDR=${ADDR:-127.0.0.1:3998}
: "${DATABASE_URL:?DATABASE_URL is not set (source .ci/services.sh)}"

command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }

SERVER=${SERVER:-}
if [ -z "$SERVER" ]; then
  cargo build --release --quiet --example bench_pg_server --features axum,postgres
  SERVER=./target/release/examples/bench_pg_server
fi
work=$(mktemp -d)
server_log="$work/server.log"
"$SERVER" "$ADDR" "$work/body.json" >"$server_log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q listening "$server_log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$server_log" || { cat "$server_log"; exit 1; }
sig=$(sed -n 's/^SIGNATURE=//p' "$server_log")

cat >"$work/fresh.lua" <<LUA
wrk.method = 'POST'
wrk.body = [==[$(cat "$work/body.json")]==]
wrk.headers['Content-Type'] = 'application/json'
wrk.headers['X-Sam-Signature'] = '$sig'
local n = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function request()
  n = n + 1
  wrk.headers['X-Delivery-Id'] = 'ROUND-' .. tostring(tid) .. '-' .. n
  return wrk.format()
end
LUA
for route in bare inbox; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/$route" -H 'Content-Type: application/json' \
    -H "X-Sam-Signature: $sig" -H 'X-Delivery-Id: warmup' --data-binary @"$work/body.json")
  [ "$code" = 200 ] || { echo "/$route answered $code to a signed request" >&2; exit 1; }
done

declare -A total p50 p99
for route in bare inbox; do total[$route]=0; done
for round in $(seq "$ROUNDS"); do
  for route in bare inbox; do
    script="$work/fresh-$round.lua"
    sed "s/'ROUND-'/'r$round-'/" "$work/fresh.lua" >"$script"
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$script" "http://$ADDR/$route" 2>&1)
    echo "$out" >>"$work/wrk.log"
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50[$route]=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99[$route]=$(echo "$out" | awk '$1 == "99%" {print $2}')
    [ -n "$rps" ] || { cat "$work/wrk.log"; exit 1; }
    echo "round $round  /$route  $rps req/s  p50 ${p50[$route]}  p99 ${p99[$route]}"
    total[$route]=$(awk -v a="${total[$route]}" -v b="$rps" 'BEGIN {print a + b}')
  done
done
if grep -q "Non-2xx" "$work/wrk.log"; then echo "non-2xx answers seen:"; grep Non-2xx "$work/wrk.log"; exit 1; fi

mean() { awk -v t="${total[$1]}" -v n="$ROUNDS" 'BEGIN {printf "%.0f", t / n}'; }
bare=$(mean bare); inbox=$(mean inbox)
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mean over $ROUNDS x $DURATION, $CONNS connections, $THREADS wrk thread(s):"
echo "  bare Bytes handler              $bare req/s   (last round p50 ${p50[bare]}, p99 ${p99[bare]})"
echo "  verify + PostgresInbox::put     $inbox req/s  ($(awk -v a="$inbox" -v b="$bare" 'BEGIN {printf "%.1f", 100 * a / b}')% of bare; last round p50 ${p50[inbox]}, p99 ${p99[inbox]})"

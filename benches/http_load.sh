#!/usr/bin/env bash
# Requests per second through the axum Webhook<T> extractor vs a bare handler that only reads
# Bytes: same server build (examples/bench_server.rs, release), same payload, load from a second
# process (wrk) over loopback. Routes are measured alternately, ROUNDS times each, to even out
# noise on a shared machine.
#
#   benches/http_load.sh                 # defaults: 2 rounds x 5 s, 1 wrk thread, 32 connections
#   DURATION=10s ROUNDS=3 CONNS=64 benches/http_load.sh
#   SERVER=/tmp/old_bench_server benches/http_load.sh   # measure a saved build (A/B)
#
# Needs wrk (Debian: apt-get install -y wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
ADDR=${ADDR:-127.0.0.1:3999}

command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }

SERVER=${SERVER:-}
if [ -z "$SERVER" ]; then
  cargo build --release --quiet --example bench_server --features axum
  SERVER=./target/release/examples/bench_server
fi
work=$(mktemp -d)
server_log="$work/server.log"
"$SERVER" "$ADDR" "$work/body.json" >"$server_log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q listening "$server_log" 2>/dev/null && break; sleep 0.1; done
sig=$(sed -n 's/^SIGNATURE=//p' "$server_log")

# wrk.body must be a Lua string: long bracket with a level the JSON cannot contain.
common="wrk.method = 'POST'
wrk.body = [==[$(cat "$work/body.json")]==]
wrk.headers['Content-Type'] = 'application/json'
wrk.headers['X-Sam-Signature'] = '$sig'"
echo "$common" >"$work/same.lua"
cat >"$work/fresh.lua" <<LUA
$common
local n = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function request()
  n = n + 1
  wrk.headers['X-Delivery-Id'] = 'ROUND-' .. tostring(tid) .. '-' .. n
  return wrk.format()
end
LUA
# One request per route first: each must answer 200 (a 401 here means the payload or the
# signature did not survive the trip into Lua).
if command -v curl >/dev/null; then
  for route in bare hook fresh fresh-raw; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/$route" -H 'Content-Type: application/json' \
      -H "X-Sam-Signature: $sig" -H 'X-Delivery-Id: warmup' --data-binary @"$work/body.json")
    [ "$code" = 200 ] || { echo "/$route answered $code to a signed request" >&2; exit 1; }
  done
fi

# wrk counts non-2xx answers (checked below); a Lua response() hook would slow the client.

run() { # route script -> rps
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$2" "http://$ADDR/$1" 2>&1 |
    tee -a "$work/wrk.log" | awk '/Requests\/sec/ {print $2}'
}

declare -A total
for route in bare hook fresh fresh-raw; do total[$route]=0; done
for round in $(seq "$ROUNDS"); do
  for route in bare hook fresh fresh-raw; do
    script="$work/same.lua"
    # Each wrk run counts from 1 again: a per-round prefix keeps the ids of later rounds new
    # (otherwise rounds 2+ would replay round 1's ids, which are duplicates by then).
    case $route in fresh*) script="$work/fresh-$round.lua"
      sed "s/'ROUND-'/'r$round-'/" "$work/fresh.lua" >"$script" ;; esac
    rps=$(run "$route" "$script")
    [ -n "$rps" ] || { cat "$work/wrk.log"; exit 1; }
    echo "round $round  /$route  $rps req/s"
    total[$route]=$(awk -v a="${total[$route]}" -v b="$rps" 'BEGIN {print a + b}')
  done
done
if grep -q "Non-2xx" "$work/wrk.log"; then echo "non-2xx answers seen:"; grep Non-2xx "$work/wrk.log"; exit 1; fi

mean() { awk -v t="${total[$1]}" -v n="$ROUNDS" 'BEGIN {printf "%.0f", t / n}'; }
bare=$(mean bare); hook=$(mean hook); fresh=$(mean fresh); raw=$(mean fresh-raw)
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "mean over $ROUNDS x $DURATION, $CONNS connections, $THREADS wrk thread(s):"
echo "  bare Bytes handler           $bare req/s"
echo "  Webhook<SamEvent>, duplicate $hook req/s  ($(awk -v a="$hook" -v b="$bare" 'BEGIN {printf "%.1f", 100 * a / b}')% of bare)"
echo "  Webhook<SamEvent>, fresh     $fresh req/s  ($(awk -v a="$fresh" -v b="$bare" 'BEGIN {printf "%.1f", 100 * a / b}')% of bare)"
echo "  Webhook<RawBody>, fresh      $raw req/s  ($(awk -v a="$raw" -v b="$bare" 'BEGIN {printf "%.1f", 100 * a / b}')% of bare)"

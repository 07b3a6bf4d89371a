#!/usr/bin/env bash
# What observability costs and what the tower layer costs, over HTTP on loopback, in one run:
#
#   - fresh deliveries/s through the axum extractor with a real Prometheus recorder installed
#     (metrics-exporter-prometheus) against the same build without one (goal: <= 3 % cost);
#   - fresh deliveries/s through the tower `ReceiverLayer` on plain hyper against the axum
#     extractor (goal: within 5 %), with the bare handler of each server for reference.
#
# Two servers of one build (examples/obs_bench_server.rs) run side by side, one with the
# recorder; each round measures every route once, one after the other, so both sides of each
# ratio share the same minute of machine load. Every request is a distinct signed delivery and
# the servers' handler counts must equal the 2xx answers (`fresh deliveries handled: H of R`).
#
#   benches/obs_load.sh                     # 3 rounds x 5 s, 32 connections
#   DURATION=10s ROUNDS=5 benches/obs_load.sh
#   QUICK=1 PROFILE=debug benches/obs_load.sh   # CI's test mode
#   SERVER=/tmp/old_obs_bench_server benches/obs_load.sh   # measure a saved build (A/B)
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/load_lib.sh
CARGO_FEATURES=${CARGO_FEATURES:---features axum,metrics}
hl_init
if [ -n "${QUICK:-}" ]; then DURATION=${DURATION:-1s} ROUNDS=${ROUNDS:-1}; fi
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
OFF=127.0.0.1:3993 # +1: plain hyper
ON=127.0.0.1:3991
TEMPLATE="$HL_WORK/template.json"

if [ -z "${SERVER:-}" ]; then
  hl_build obs_bench_server
  SERVER=$HL_BIN/obs_bench_server
else
  hl_build # the load generator only
fi
hl_start off "$SERVER" "$OFF" "$TEMPLATE"
hl_start on "$SERVER" "$ON" "$HL_WORK/t2.json" --metrics
sign=$(hl_var off SIGN)
hyper="127.0.0.1:$(( ${OFF##*:} + 1 ))"

# name url stat-base stat-key server-pid
ROUTES=(
  "axum-bare http://$OFF/bare http://$OFF bare $HL_PID_off"
  "axum-fresh http://$OFF/fresh http://$OFF fresh.fresh $HL_PID_off"
  "axum-fresh+prometheus http://$ON/fresh http://$ON fresh.fresh $HL_PID_on"
  "hyper-bare http://$hyper/bare http://$hyper tower-bare $HL_PID_off"
  "hyper-tower-fresh http://$hyper/fresh http://$hyper tower-fresh.fresh $HL_PID_off"
)
hl_check_fresh "http://$OFF/fresh" "$sign" "$TEMPLATE" fresh.fresh
hl_check_fresh "http://$ON/fresh" "$sign" "$TEMPLATE" fresh.fresh
hl_check_fresh "http://$hyper/fresh" "$sign" "$TEMPLATE" tower-fresh.fresh
echo "checks passed: every fresh route handles two new ids fresh"

declare -A rps cpu handled answered
for r in "${ROUTES[@]}"; do read -r name _ <<<"$r"; rps[$name]=""; cpu[$name]=""; handled[$name]=0; answered[$name]=0; done
metrics_ratio="" tower_ratio="" metrics_cpu="" tower_cpu=""
for round in $(seq "$ROUNDS"); do
  declare -A this thiscpu
  for r in "${ROUTES[@]}"; do
    read -r name url base key pid <<<"$r"
    before=$(hl_stat "$base" "$key")
    cpu0=$(hl_cpu_us "$pid")
    line=$(hl_load --url "$url" --template "$TEMPLATE" --sign "$sign" --conns "$CONNS" \
      --duration "$DURATION" --id-prefix "obs-r$round-$name-")
    cpu1=$(hl_cpu_us "$pid")
    after=$(hl_stat "$base" "$key")
    ok=$(hl_field "$line" ok); h=$((after - before)); this[$name]=$(hl_field "$line" rps)
    thiscpu[$name]=$(awk -v c=$((cpu1 - cpu0)) -v n="$ok" 'BEGIN {printf "%.3f", c / n}')
    cpu[$name]+=" ${thiscpu[$name]}"
    [ "$(hl_field "$line" non2xx)" = 0 ] || { echo "$name: non-2xx answers: $line" >&2; exit 1; }
    [ "$h" = "$ok" ] || { echo "$name: handled $h of $ok 2xx answers" >&2; exit 1; }
    case $name in *fresh*)
      [ "$(hl_field "$line" duplicates)" = 0 ] || { echo "$name: duplicates: $line" >&2; exit 1; } ;;
    esac
    echo "round $round $name ${this[$name]} req/s, server CPU ${thiscpu[$name]} us/request; fresh deliveries handled: $h of $ok"
    rps[$name]+=" ${this[$name]}"; handled[$name]=$((handled[$name] + h)); answered[$name]=$((answered[$name] + ok))
  done
  metrics_ratio+=" $(awk -v a="${this[axum-fresh+prometheus]}" -v b="${this[axum-fresh]}" 'BEGIN {printf "%.4f", 100 * a / b}')"
  metrics_cpu+=" $(awk -v a="${thiscpu[axum-fresh+prometheus]}" -v b="${thiscpu[axum-fresh]}" 'BEGIN {printf "%.4f", 100 * (a - b) / b}')"
  tower_cpu+=" $(awk -v a="${thiscpu[hyper-tower-fresh]}" -v b="${thiscpu[axum-fresh]}" 'BEGIN {printf "%.4f", 100 * a / b}')"
  tower_ratio+=" $(awk -v a="${this[hyper-tower-fresh]}" -v b="${this[axum-fresh]}" 'BEGIN {printf "%.4f", 100 * a / b}')"
done
# shellcheck disable=SC2086
{
  echo
  echo "$ROUNDS rounds x $DURATION, $CONNS connections, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  for r in "${ROUTES[@]}"; do
    read -r name _ <<<"$r"
    printf '  %-24s %s req/s; server CPU %s us/request; handled %s of %s\n' "$name" \
      "$(hl_summary ${rps[$name]})" "$(hl_summary ${cpu[$name]})" "${handled[$name]}" "${answered[$name]}"
  done
  echo "  with a Prometheus recorder: $(hl_summary $metrics_ratio) % of the fresh rate without"
  echo "  with a Prometheus recorder: server CPU per fresh delivery $(hl_summary $metrics_cpu) % more"
  echo "  tower layer on plain hyper: $(hl_summary $tower_ratio) % of the axum extractor's fresh rate"
  echo "  tower layer on plain hyper: server CPU per fresh delivery $(hl_summary $tower_cpu) % of the axum extractor's"
}
# The recorder really recorded: the page names the deliveries counter with the fresh count.
page=$("$HL_LOADGEN" --url "http://$ON/metrics" --get)
printf '%s\n' "$page" | grep -q 'chathooks_deliveries_total' ||
  { echo "the Prometheus page holds no chathooks_deliveries_total" >&2; exit 1; }
echo "  prometheus page: $(printf '%s\n' "$page" | grep -c '^chathooks_') chathooks series"

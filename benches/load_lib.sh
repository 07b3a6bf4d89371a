# Shared pieces of the HTTP load scripts (benches/http_load.sh and its siblings). Source it:
#
#   source "$(dirname "$0")/load_lib.sh"
#   hl_init                                   # work dir, cleanup trap, $PROFILE, $HL_LOADGEN
#   hl_build bench_server                     # cargo build --example bench_server bench_load
#   hl_start srv ./target/release/examples/bench_server 127.0.0.1:3999 "$HL_WORK/t.json"
#   sign=$(hl_var srv SIGN)                   # a KEY=VALUE line the server printed
#   hl_check_fresh http://127.0.0.1:3999/fresh "$sign" "$HL_WORK/t.json" fresh.fresh
#   line=$(hl_load --url http://127.0.0.1:3999/fresh --template "$HL_WORK/t.json" \
#          --sign "$sign" --id-prefix r1- --duration 5s --conns 32)
#   rps=$(hl_field "$line" rps)
#   hl_summary 81000 79000 83000              # "81000 (79000-83000, spread 4.9%)"
#
# The load generator is examples/bench_load.rs (see its docs: signed requests, each with its
# own delivery id, every answer counted). Servers print `listening` when ready and answer
# `GET /stats` with `name=count` pairs; hl_stat reads one of them.
#
# Environment: PROFILE=release|debug (debug reuses `cargo test`'s build, for CI's test mode),
# CARGO_FEATURES (default `--features axum`), LOADGEN (a prebuilt load generator).

hl_init() {
  set -euo pipefail
  PROFILE=${PROFILE:-release}
  CARGO_FEATURES=${CARGO_FEATURES:---features axum}
  HL_WORK=$(mktemp -d)
  HL_PIDS=()
  trap hl_cleanup EXIT
}

hl_cleanup() {
  local pid
  for pid in "${HL_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${HL_PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$HL_WORK"
}

# hl_build EXAMPLE... : build the examples and the load generator; sets HL_BIN (their folder)
# and HL_LOADGEN.
hl_build() {
  local args=() ex
  for ex in "$@" bench_load; do args+=(--example "$ex"); done
  local flag=()
  [ "$PROFILE" = release ] && flag=(--release)
  # shellcheck disable=SC2086 # CARGO_FEATURES is a list of flags
  cargo build "${flag[@]}" --quiet $CARGO_FEATURES "${args[@]}"
  HL_BIN=./target/$PROFILE/examples
  HL_LOADGEN=${LOADGEN:-$HL_BIN/bench_load}
}

# hl_start NAME CMD... : start a server in the background, wait until it prints `listening`.
# Its output goes to $HL_WORK/NAME.log; its pid to HL_PID_NAME.
hl_start() {
  local name=$1; shift
  local log="$HL_WORK/$name.log"
  "$@" >"$log" 2>&1 &
  local pid=$!
  HL_PIDS+=("$pid")
  printf -v "HL_PID_${name//-/_}" '%s' "$pid"
  local _
  for _ in $(seq 1200); do
    grep -q listening "$log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "server $name exited:" >&2; cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "server $name did not start within 120 s:" >&2; cat "$log" >&2; return 1
}

# hl_stop NAME : stop a server started by hl_start.
hl_stop() {
  local var="HL_PID_${1//-/_}"
  kill "${!var}" 2>/dev/null || true
  wait "${!var}" 2>/dev/null || true
}

# hl_var NAME KEY : the value of a `KEY=value` line the server printed.
hl_var() { sed -n "s/^$2=//p" "$HL_WORK/$1.log" | head -n1; }

# hl_load ARGS... : run the load generator; prints its one result line.
hl_load() { "$HL_LOADGEN" "$@"; }

# hl_field LINE KEY : the value of `KEY=value` in a line of `name=value` pairs.
hl_field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }

# hl_stat BASE_URL KEY : one counter from the server's GET /stats.
hl_stat() { hl_field "$("$HL_LOADGEN" --url "$1/stats" --get)" "$2"; }

# hl_cpu_us PID : user + system CPU time of a process so far, in microseconds.
hl_cpu_us() {
  local tck
  tck=$(getconf CLK_TCK)
  # Fields 14 and 15 after the command name (which may hold spaces, so cut at the last ')').
  sed 's/.*) //' "/proc/$1/stat" | awk -v t="$tck" '{printf "%.0f", ($12 + $13) * 1e6 / t}'
}

# Numbers for people: whole numbers from 100 up, three significant digits below.
HL_AWK_FMT='function f(x) { return (x >= 100 || x <= -100) ? sprintf("%.0f", x) : sprintf("%.3g", x) }'

# hl_median VALUE... : the median (mean of the middle two for an even count).
hl_median() {
  printf '%s\n' "$@" | sort -g | awk "$HL_AWK_FMT"' {v[NR] = $1} END {
    printf "%s", f((NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# hl_summary VALUE... : "median (min-max, spread S%)", spread = (max - min) / median.
hl_summary() {
  printf '%s\n' "$@" | sort -g | awk "$HL_AWK_FMT"' {v[NR] = $1} END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%s (%s-%s, spread %.1f%%)", f(m), f(v[1]), f(v[NR]), m ? 100 * (v[NR] - v[1]) / m : 0 }'
}

# hl_check_fresh URL SIGN TEMPLATE STAT_KEY [LOAD ARGS...] : two requests with different
# delivery ids, one after the other; fails unless both are 2xx, neither is answered as a
# duplicate, and the server's STAT_KEY counter (handlers run) rose by exactly 2.
hl_check_fresh() {
  local url=$1 sign=$2 template=$3 key=$4; shift 4
  local base=${url%/*} before after line
  before=$(hl_stat "$base" "$key")
  line=$(hl_load --url "$url" --template "$template" --sign "$sign" --conns 1 --requests 2 \
    --id-prefix "check-$RANDOM$RANDOM-" "$@")
  after=$(hl_stat "$base" "$key")
  if [ "$(hl_field "$line" ok)" != 2 ] || [ "$(hl_field "$line" duplicates)" != 0 ] ||
    [ $((after - before)) != 2 ]; then
    echo "${url##*/}: two deliveries with different ids were not both handled fresh" \
      "($line; $key $before -> $after)" >&2
    return 1
  fi
}

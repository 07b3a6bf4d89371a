#!/usr/bin/env bash
# Run a fuzzing session: each named target (default: all) for SECS seconds, one at a time, on one
# core. New inputs go to fuzz/work/<target>/ (git-ignored); the checked-in seeds in
# fuzz/corpus/<target>/ are read but never written. Crashes land in fuzz/artifacts/<target>/.
# Usage: fuzz/run-session.sh [SECS] [target ...]      (needs nightly and cargo-fuzz)
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-240}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//')
fi
mkdir -p work logs
for t in "${targets[@]}"; do
  mkdir -p "work/$t"
  echo "== $t for ${secs}s"
  # -a: debug assertions (overflow checks) on; -s none: the crate forbids unsafe, so the
  # address sanitizer would mostly cost speed.
  cargo +nightly fuzz run -a -s none "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=1024 -max_len=16384 -timeout=10 -print_final_stats=1 \
    2>&1 | tee "logs/$t.log" | grep -E "^(#[0-9]+.*(DONE|INITED)|stat::|==[0-9]+== ERROR|SUMMARY|Test unit written|panicked)" || true
done

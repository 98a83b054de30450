#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each and prints, per target, the
# executions run and the crashes found. Usage: fuzz/run.sh SECONDS [TARGET...]
# FUZZ_RUNS=N also stops a target after N executions (whichever comes first), so a goal
# stated in executions is met the same on a fast and a slow machine.
#
# The corpus kept in the repo (fuzz/corpus/TARGET, small seeds) is read, never written:
# new inputs go to a work corpus under the target directory, so a long run keeps what it
# found without growing the repository. A crash leaves its input under
# $FUZZ_DIR/artifacts/TARGET/ and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
fuzz_dir=${FUZZ_DIR:-$(cd .. && pwd)/target/fuzz}
# RSS limit per target (MB): the in-process sidecar and its SQLite store stay far below.
rss=${FUZZ_RSS_MB:-2048}
if (($#)); then
  targets=("$@")
else
  mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
fi
export RUSTC_BOOTSTRAP=1
failed=0
runs=()
if [ -n "${FUZZ_RUNS:-}" ]; then
  runs=(-runs="$FUZZ_RUNS")
fi
printf '%-14s %14s %8s %8s\n' target executions seconds crashes
for t in "${targets[@]}"; do
  work="$fuzz_dir/corpus/$t"
  artifacts="$fuzz_dir/artifacts/$t/"
  log="$fuzz_dir/logs/$t.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")" "corpus/$t"
  stamp="$fuzz_dir/logs/$t.start"
  touch "$stamp"
  status=0
  cargo fuzz run --target-dir "$fuzz_dir" "$t" "$work" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb="$rss" -timeout=10 \
    -artifact_prefix="$artifacts" -print_final_stats=1 "${runs[@]}" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) -newer "$stamp" 2>/dev/null | wc -l)
  if ((status != 0)) && ((crashes == 0)); then
    crashes=1
  fi
  took=$(($(date +%s) - $(stat -c %Y "$stamp")))
  printf '%-14s %14s %8s %8s\n' "$t" "${execs:-?}" "$took" "$crashes"
  if ((crashes > 0)); then
    failed=1
    echo "  $t failed (exit $status); see $log and $artifacts" >&2
    grep -m5 -E 'panicked|ERROR: |SUMMARY' "$log" | sed 's/^/  /' >&2 || true
  fi
done
exit "$failed"

#!/usr/bin/env bash
# bench_builtin.sh N: N cached reads of the variable "bench" through the Bash builtin
# (`cronium_native -v v get-variable bench`: no fork, no exec), after a warm-up, each timed with
# EPOCHREALTIME (microsecond resolution). Prints one JSON line:
#   {"client":"bash-builtin","samples_ns":[...]}
# Environment: CRONIUM_RUNTIME_SOCKET, CRONIUM_EXECUTION_TOKEN, and CRONIUM_BUILTIN (the
# path of cronium_builtin.so; `make c-bench` builds it under target/release).
set -euo pipefail
n=${1:-1000}
enable -f "${CRONIUM_BUILTIN:?set CRONIUM_BUILTIN to cronium_builtin.so}" cronium_native
v=
cronium_native -v v get-variable bench MISSING
[[ $v != MISSING ]] || cronium_native set-variable bench 1
for ((i = 0; i < (n / 10 < 100 ? 100 : n / 10); i++)); do cronium_native -v v get-variable bench; done
samples=()
for ((i = 0; i < n; i++)); do
  t0=$EPOCHREALTIME
  cronium_native -v v get-variable bench
  t1=$EPOCHREALTIME
  samples+=($(((10#${t1/./} - 10#${t0/./}) * 1000)))
done
IFS=,
printf '{"client":"bash-builtin","samples_ns":[%s]}\n' "${samples[*]}"

#!/usr/bin/env bash
# Runs the conformance cases (cases.json) in every language, each against one sidecar
# started by the test kit, and prints a pass/fail/skip count per language. Every language
# runs even when one fails; the exit status is non-zero when any case failed or any
# interpreter could not run.
#
#   CRONIUM_TESTKIT=target/debug/cronium-testkit CRONIUM_BIN=target/debug/cronium \
#   C_LIB_DIR=target/debug tests/conformance/run.sh [LANG...]
#
# LANG: rust python node c bash-curl bash-builtin (default: all).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export CRONIUM_TESTKIT=${CRONIUM_TESTKIT:-$target/debug/cronium-testkit}
export CRONIUM_BIN=${CRONIUM_BIN:-$target/debug/cronium}
C_LIB_DIR=${C_LIB_DIR:-$target/debug}
PYTHON=${CRONIUM_PYTHON:-python3}
CARGO=${CARGO:-cargo}

langs=("$@")
((${#langs[@]})) || langs=(rust python node c bash-curl bash-builtin)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
summary=()
status=0

# record LANG LOG: the LANG's counts from its log, as "passed failed skipped".
counts() {
  local log=$1 p=0 f=0 s=0 re
  re='^[a-z() -]+: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$'
  if line=$(grep -E "$re" "$log" | tail -1) && [[ $line =~ $re ]]; then
    p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]}
  elif grep -qE '^# (pass|fail|skipped) [0-9]+' "$log"; then # node --test
    p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$log" | tail -1)
    f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$log" | tail -1)
    s=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$log" | tail -1)
  elif line=$(grep -E '[0-9]+ (passed|failed|skipped)' "$log" | tail -1); then # pytest
    [[ $line =~ ([0-9]+)\ passed ]] && p=${BASH_REMATCH[1]}
    [[ $line =~ ([0-9]+)\ failed ]] && f=${BASH_REMATCH[1]}
    [[ $line =~ ([0-9]+)\ skipped ]] && s=${BASH_REMATCH[1]}
  else
    return 1
  fi
  echo "${p:-0} ${f:-0} ${s:-0}"
}

run() {
  local lang=$1
  shift
  local log=$work/$lang.log rc c
  echo "=== $lang"
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if c=$(counts "$log"); then
    read -r p f s <<<"$c"
    if ((rc != 0 && f == 0)); then f=$((f + 1)); fi
  else
    p=0 f=1 s=0
  fi
  summary+=("$(printf '%-13s %3d passed, %3d failed, %3d skipped' "$lang" "$p" "$f" "$s")")
  if ((rc != 0 || f != 0)); then status=1; fi
}

for lang in "${langs[@]}"; do
  case $lang in
    rust) run rust "$CARGO" test -q -p cronium-testkit --test conformance -- --nocapture ;;
    python) run python "$PYTHON" -m pytest -q -rs -p no:cacheprovider "$here/python" ;;
    node) run node node --test --test-reporter=tap "$here/node/conformance.test.js" ;;
    c)
      if gcc -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -g -I"$root/bindings/c/include" \
        -o "$work/driver" "$here/c/driver.c" -L"$C_LIB_DIR" -lcronium -Wl,-rpath,"$C_LIB_DIR"; then
        run c "$PYTHON" "$here/drive.py" c "$work/driver"
      else
        summary+=("c             the driver does not compile against $C_LIB_DIR")
        status=1
      fi
      ;;
    bash-curl) run bash-curl env -u CRONIUM_BUILTIN "$PYTHON" "$here/drive.py" bash ;;
    bash-builtin) run bash-builtin env CRONIUM_BUILTIN="$C_LIB_DIR/cronium_builtin.so" "$PYTHON" "$here/drive.py" bash ;;
    *)
      echo "unknown language $lang (rust python node c bash-curl bash-builtin)" >&2
      exit 2
      ;;
  esac
done

echo "=== conformance ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["cases"]))' "$here/cases.json") cases)"
printf '%s\n' "${summary[@]}"
exit $status

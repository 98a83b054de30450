#!/usr/bin/env bash
# The C tests against a real sidecar: compiles tests/*.c with gcc against the INSTALLED
# header and library (PREFIX, from `make install-c`), starts a sidecar with the test kit
# (tests/kit), creates the executions the tests need and runs each test binary under valgrind
# (no leaks, no memory errors) when VALGRIND=1 (the default), else directly.
# Ends with a line "N passed, N failed"; exits non-zero when anything failed.
#
#   PREFIX=/tmp/p CRONIUM=target/debug/cronium bindings/c/tests/run.sh
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
CRONIUM=${CRONIUM:-$root/target/debug/cronium}
PREFIX=${PREFIX:?set PREFIX to where make install-c put libcronium}
VALGRIND=${VALGRIND:-1}

# shellcheck source=/dev/null # tests/kit/kit.sh, checked on its own
source "$root/tests/kit/kit.sh"
work=$(mktemp -d)
cleanup() {
  kit_stop
  rm -rf "$work"
}
trap cleanup EXIT
die() {
  echo "$1" >&2
  echo "0 passed, 1 failed"
  exit 1
}

# Compile against the installed files only, through the installed pkg-config file.
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
read -r -a flags < <(pkg-config --cflags --libs cronium) || die "pkg-config cannot find cronium under $PREFIX"
for src in "$here"/*.c; do
  gcc -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -g -o "$work/$(basename "$src" .c)" "$src" \
    "${flags[@]}" -Wl,-rpath,"$PREFIX/lib" -pthread || die "gcc failed on $src"
done
# The static library links too (a program that needs no libcronium.so at run time).
gcc -std=c11 -D_DEFAULT_SOURCE -o "$work/static_check" "$here/test_cronium.c" -I"$PREFIX/include" \
  "$PREFIX/lib/libcronium.a" -pthread -ldl -lm || die "linking libcronium.a failed"

export CRONIUM_LOG=error
export CRONIUM_TOKEN_SECRET=c-tests-secret-c-tests-secret-0123456789
kit_start || die "the test kit did not start a sidecar"
state=$KIT_STATE
socket=$KIT_SOCKET

# token [ARGS...]: a new execution's token.
token() {
  local created re='"token":"([^"]+)"'
  created=$("$CRONIUM" --state-dir "$state" executions create --json "$@") || return 1
  [[ $created =~ $re ]] || return 1
  printf '%s\n' "${BASH_REMATCH[1]}"
}
printf '{"r":1}\n{"r":2}\n' >"$work/in.ndjson"
CRONIUM_EXECUTION_TOKEN=$(token --user c-tests --event nightly --input '{"name":"Ada","n":[1,2]}') || die "executions create failed"
CRONIUM_TEST_TOKEN_STREAM=$(token --user c-tests --input-stream "$work/in.ndjson") || die "executions create failed"
CRONIUM_TEST_TOKEN_RO=$(token --user c-tests --scope input:read) || die "executions create failed"
export CRONIUM_RUNTIME_SOCKET=$socket CRONIUM_EXECUTION_TOKEN CRONIUM_TEST_TOKEN_STREAM CRONIUM_TEST_TOKEN_RO
unset CRONIUM_RUNTIME_API

pass=0 fail=0
for bin in "$work"/test_*; do
  name=$(basename "$bin")
  if [[ $VALGRIND == 1 ]]; then
    out=$(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible \
      --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
      --suppressions="$here/valgrind.supp" \
      --log-file="$work/$name.valgrind" "$bin")
    rc=$?
  else
    out=$("$bin")
    rc=$?
  fi
  printf '%s\n' "$out" | grep -v '^[0-9]* passed, [0-9]* failed$'
  re='([0-9]+) passed, ([0-9]+) failed'
  if [[ $out =~ $re ]]; then
    pass=$((pass + BASH_REMATCH[1]))
    fail=$((fail + BASH_REMATCH[2]))
  else
    fail=$((fail + 1))
    echo "FAIL  $name printed no summary (exit $rc)"
  fi
  if [[ $VALGRIND == 1 ]]; then
    if [[ -s $work/$name.valgrind || $rc == 99 ]]; then
      fail=$((fail + 1))
      echo "FAIL  $name under valgrind: leaks or memory errors"
      cat "$work/$name.valgrind"
    else
      pass=$((pass + 1))
      echo "ok    $name under valgrind: no leaks, no memory errors"
    fi
  fi
done
# The statically linked build runs too (quickly, without valgrind), on fresh executions.
if CRONIUM_EXECUTION_TOKEN=$(token --user c-tests-static --event nightly --input '{"name":"Ada","n":[1,2]}') &&
  CRONIUM_TEST_TOKEN_STREAM=$(token --user c-tests-static --input-stream "$work/in.ndjson") &&
  "$work/static_check" >/dev/null; then
  pass=$((pass + 1))
  echo "ok    the suite linked against libcronium.a passes"
else
  fail=$((fail + 1))
  echo "FAIL  the suite linked against libcronium.a"
fi
echo "$pass passed, $fail failed"
((fail == 0))

#!/usr/bin/env bash
# `make install` into a temp PREFIX, then everything used from the installed files only:
# the installed cronium runs a Python, a Node and a Bash script (no CRONIUM_* variable, no
# build tree on PATH, a clean environment), a C program compiled with
# `pkg-config --cflags --libs cronium` against the installed libcronium runs under it, the
# man pages and completions are there, `make uninstall` removes every file, and DESTDIR
# stages an install whose cronium.pc names the final PREFIX. Debug builds (INSTALL_PROFILE):
# what is tested is the layout, not the optimiser.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "FAIL: $*" >&2; exit 1; }

make --no-print-directory install PREFIX="$prefix" INSTALL_PROFILE=debug >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "make install"; }

for f in bin/cronium lib/cronium/python/cronium/__init__.py \
  lib/cronium/node_modules/cronium/package.json lib/cronium/bash/cronium.sh \
  lib/libcronium.so lib/libcronium.a include/cronium.h lib/pkgconfig/cronium.pc \
  share/man/man1/cronium.1 share/man/man1/cronium-run.1 \
  share/bash-completion/completions/cronium share/zsh/site-functions/_cronium \
  share/fish/vendor_completions.d/cronium.fish; do
  [[ -f $prefix/$f ]] || fail "not installed: $f"
done
compgen -G "$prefix/lib/cronium/node_modules/cronium/cronium.linux-*.node" >/dev/null ||
  fail "the Node addon is not installed"

# A clean environment: the installed bin first, then only the system's directories.
work=$tmp/work
mkdir -p "$work"
cp examples/hello.py examples/hello.js examples/hello.sh "$work/"
run() {
  (cd "$work" && env -i HOME="$tmp" PATH="$prefix/bin:/usr/local/bin:/usr/bin:/bin" \
    LD_LIBRARY_PATH="$prefix/lib" cronium --state-dir "$tmp/state" run --json "$@")
}
expect_output() { # SCRIPT EXPECTED-JSON-SUBSET
  local out
  out=$(run --input '{"name":"Ada"}' "$1") || fail "$1 under the installed cronium: $out"
  python3 - "$out" "$2" "$1" <<'PY' || exit 1
import json, sys
doc, want, name = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
if doc["exitCode"] != 0:
    sys.exit(f"FAIL: {name} exited {doc['exitCode']}: {doc.get('stdout')}")
for k, v in want.items():
    if doc["output"].get(k) != v:
        sys.exit(f"FAIL: {name}: output {doc['output']}, wanted {k}={v!r}")
PY
  echo "ok    $1 under the installed cronium"
}
command -v python3 >/dev/null && expect_output hello.py '{"greeting":"Hello, Ada!"}'
command -v node >/dev/null && expect_output hello.js '{"greeting":"Hello, Ada!"}'
expect_output hello.sh '{"greeting":"Hello, Ada!"}'

# The forkless builtin, installed when bash-builtins' headers are there: the installed
# cronium finds it (no CRONIUM_BUILTIN set), and it loads from its installed place
# (beside ../libcronium.so) and serves the script.
if [[ -f /usr/include/bash/builtins.h ]]; then
  builtin=$prefix/lib/bash/cronium_builtin.so
  [[ -f $builtin ]] || fail "the Bash builtin is not installed"
  # shellcheck disable=SC2016 # expanded by the script
  printf '%s\n' 'echo "native=$_cronium_native"' 'cronium_output "{\"n\":1}"' >"$work/native.sh"
  out=$(cd "$work" && env -i HOME="$tmp" PATH="$prefix/bin:/usr/local/bin:/usr/bin:/bin" \
    cronium --state-dir "$tmp/state" run --json native.sh) ||
    fail "a script with the installed builtin: $out"
  if ! grep -q '"exitCode":0' <<<"$out" || ! grep -q 'native=1' <<<"$out"; then
    fail "the installed builtin was not loaded: $out"
  fi
  echo "ok    the installed Bash builtin loads and serves a script"
fi

# C: compiled against the installed header and library through pkg-config, then run by a
# Bash script under the installed cronium (which gives it the socket and the token).
cat >"$work/hello.c" <<'C'
#include <cronium.h>
#include <stdio.h>
int main(void) {
    cronium_client *c = NULL;
    char *input = NULL;
    if (cronium_client_new_from_env(&c) != CRONIUM_OK) return 2;
    if (cronium_input(c, &input) != CRONIUM_OK) return 3;
    int rc = cronium_output_set(c, input) == CRONIUM_OK ? 0 : 4;
    cronium_string_free(input);
    cronium_client_free(c);
    return rc;
}
C
# shellcheck disable=SC2046 # pkg-config's flags are words
gcc -std=c11 -o "$work/hello-c" "$work/hello.c" \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs cronium) ||
  fail "a C program does not build with pkg-config --cflags --libs cronium"
printf '#!/usr/bin/env bash\nexec ./hello-c\n' >"$work/c.sh"
expect_output c.sh '{"name":"Ada"}'

# The installed binary's own help surfaces.
"$prefix/bin/cronium" completions bash | grep -q '_cronium()' || fail "completions"
if command -v man >/dev/null; then
  MANPATH="$prefix/share/man" man -w cronium-run >/dev/null 2>&1 || fail "man cronium-run"
fi
echo "ok    C through pkg-config, man pages, completions"

make --no-print-directory uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f)
[[ -z $left ]] || fail "make uninstall left: $left"
echo "ok    make uninstall removed every installed file"

# DESTDIR: every file under the staging root, the .pc naming the final PREFIX.
make --no-print-directory install DESTDIR="$tmp/stage" PREFIX=/opt/cronium INSTALL_PROFILE=debug \
  >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "make install DESTDIR=..."; }
[[ -x $tmp/stage/opt/cronium/bin/cronium && -d $tmp/stage/opt/cronium/lib/cronium/python/cronium ]] ||
  fail "DESTDIR: not staged under its root"
grep -qx 'prefix=/opt/cronium' "$tmp/stage/opt/cronium/lib/pkgconfig/cronium.pc" ||
  fail "DESTDIR: cronium.pc does not name the final prefix"
[[ -e /opt/cronium ]] && fail "DESTDIR: wrote /opt/cronium, outside the staging root"
echo "ok    DESTDIR stages under its root"

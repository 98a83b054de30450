#!/usr/bin/env bash
# Checks a built wheel: auditwheel says it qualifies for TAG; a glibc wheel is then
# installed into a fresh virtualenv and used by a real script under `cronium run` (the
# runtime in that process, on a real socket): a call through the module and
# `python -m cronium info`. A musl wheel cannot be installed on a glibc host: its tag, its
# needed libraries and its symbol versions are what is checked here.
#
#   check-wheel.sh WHEEL TAG     (CRONIUM: the cronium binary, for the glibc test-install)
set -euo pipefail

wheel=${1:?usage: check-wheel.sh WHEEL TAG}
tag=${2:?usage: check-wheel.sh WHEEL TAG}
[[ -f $wheel ]] || { echo "no wheel at $wheel" >&2; exit 2; }

# auditwheel cannot read a musl wheel on a glibc host (it resolves the extension's
# `libc.so` to glibc's linker script); that wheel is checked from its own files instead.
case $tag in
  musllinux*)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m zipfile -e "$wheel" "$tmp"
    grep -qx "Tag: cp39-abi3-$tag" "$tmp"/cronium-*.dist-info/WHEEL ||
      { echo "$wheel: the WHEEL file does not say $tag" >&2; exit 1; }
    so=$(echo "$tmp"/cronium/_native*.so)
    needed=$(readelf -d "$so" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | tr '\n' ' ')
    # musl's loader is libc.so itself; nothing else may be needed.
    [[ $needed == "libc.so " || $needed == "libc.musl-x86_64.so.1 " ]] ||
      { echo "$wheel: needs $needed, more than musl" >&2; exit 1; }
    if objdump -T "$so" | grep -q GLIBC_; then
      echo "$wheel: references glibc symbol versions" >&2
      exit 1
    fi
    echo "$(basename "$wheel"): $tag (WHEEL tag; needs only musl's libc.so, no glibc symbol)"
    echo "$(basename "$wheel"): not installed here (a glibc host); install it on Alpine: pip install $(basename "$wheel")"
    exit 0
    ;;
esac

shown=$(auditwheel show "$wheel")
if ! grep -q "consistent with the following platform tag" <<<"$shown" ||
  ! grep -q "\"$tag\"" <<<"$shown"; then
  echo "$wheel: auditwheel does not confirm $tag:" >&2
  echo "$shown" >&2
  exit 1
fi
echo "$(basename "$wheel"): $tag (auditwheel)"
if [[ $tag != *_$(uname -m) ]]; then
  echo "$(basename "$wheel"): not installed here (built for another architecture than $(uname -m))"
  exit 0
fi

: "${CRONIUM:?set CRONIUM to the cronium binary for the test-install}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$wheel"
cat >"$tmp/check.py" <<'PY'
import subprocess, sys
import cronium
name = cronium.input()["name"]
cronium.set_variable("seen", name)
info = subprocess.run([sys.executable, "-m", "cronium", "info"], capture_output=True, text=True)
assert info.returncode == 0, info.stdout + info.stderr
assert "runtime: answers" in info.stdout, info.stdout
cronium.output({"hello": name, "seen": cronium.get_variable("seen"), "module": cronium.__file__})
PY
out=$(cd "$tmp" && env -u PYTHONPATH CRONIUM_PYTHON="$tmp/venv/bin/python" \
  "$CRONIUM" --state-dir "$tmp/state" run --json --input '{"name":"Ada"}' check.py)
python3 - "$out" "$tmp/venv" <<'PY'
import json, sys
doc = json.loads(sys.argv[1])
assert doc["exitCode"] == 0, doc
out = doc["output"]
assert out["hello"] == "Ada" and out["seen"] == "Ada", out
assert out["module"].startswith(sys.argv[2]), f"not the wheel's module: {out['module']}"
PY
echo "$(basename "$wheel"): installed into a fresh venv and ran a script under cronium run"

#!/usr/bin/env bash
# Checks the Node addons of `make node-addons`: the glibc one needs nothing newer than
# glibc 2.17 (the highest GLIBC_x.y symbol version it references) and is loaded by the
# package (from a platform package, the way npm installs it) to run a real script under
# `cronium run`; the musl one links only musl's loader (no glibc symbol at all).
#
#   check-node-addons.sh DIR     (DIR: what node-platform-packages.sh wrote; CRONIUM: the binary)
set -euo pipefail

dir=${1:?usage: check-node-addons.sh DIR}
: "${CRONIUM:?set CRONIUM to the cronium binary}"
gnu=$dir/npm/linux-x64-gnu/cronium.linux-x64-gnu.node
musl=$dir/npm/linux-x64-musl/cronium.linux-x64-musl.node

# The newest glibc symbol version a file needs (empty when none).
glibc_floor() {
  objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -u | tail -1
}

floor=$(glibc_floor "$gnu")
if [[ $(printf '%s\n2.17\n' "$floor" | sort -t. -k1,1n -k2,2n | tail -1) != 2.17 ]]; then
  echo "$gnu needs glibc $floor, more than 2.17" >&2
  exit 1
fi
echo "linux-x64-gnu: needs glibc $floor at most (floor 2.17)"
if [[ -n $(glibc_floor "$musl") ]]; then
  echo "$musl references glibc symbols" >&2
  exit 1
fi
if ! readelf -d "$musl" | grep -q 'libc.musl\|ld-musl\|libc.so'; then
  echo "$musl: no C library in its dynamic section" >&2
  exit 1
fi
echo "linux-x64-musl: links musl only"

# The package as npm would install it: cronium without a bundled addon, and the platform
# package beside it in node_modules.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkg=$tmp/node_modules/cronium
mkdir -p "$pkg"
mapfile -t files < <(cd bindings/node && node -p "require('./package.json').files.filter(f => !f.includes('*')).join('\\n')")
(cd bindings/node && cp package.json "${files[@]}" "$pkg/")
cp -r "$dir/npm/linux-x64-gnu" "$tmp/node_modules/cronium-linux-x64-gnu"
cat >"$tmp/check.js" <<'JS'
const cronium = require('cronium');
(async () => {
  const { name } = await cronium.input();
  await cronium.setVariable('seen', name);
  await cronium.output({ hello: name, seen: await cronium.getVariable('seen') });
})();
JS
out=$(cd "$tmp" && env -u NODE_PATH CRONIUM_NODE_PATH="$tmp/node_modules" \
  "$CRONIUM" --state-dir "$tmp/state" run --json --input '{"name":"Ada"}' check.js)
python3 - "$out" <<'PY'
import json, sys
doc = json.loads(sys.argv[1])
assert doc["exitCode"] == 0, doc
assert doc["output"] == {"hello": "Ada", "seen": "Ada"}, doc
PY
echo "linux-x64-gnu: loaded from the platform package cronium-linux-x64-gnu; a script ran under cronium run"

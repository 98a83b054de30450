#!/usr/bin/env bash
# Runs every snippet the docs show (README.md, docs/*.md), for real: scripts under
# `cronium run` against the real runtime, the shell walkthroughs as written, the C program
# compiled and linked as docs/c.md says, the TypeScript example compiled by tsc, the Rust
# example built by cargo; tool actions reach local receivers (receiver.py). Every run has
# a timeout, so an example that never ends fails instead of hanging. `make test-docs` sets
# the inputs:
#
#   CRONIUM            the cronium binary
#   CRONIUM_PYTHON     interpreter with the Python module (make python)
#   CRONIUM_NODE_PATH  directory holding the `cronium` package (make node)
#   TSC, NODE_TYPES    tsc and the directory of @types/node (bindings/node/node_modules)
#   DOCS_RUST_EXAMPLE  the built client-core example docs_basics
#   CRONIUM_BUILTIN    the Bash builtin cronium_builtin.so (make c-builtin)
#
# Prints one line per case and "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${CRONIUM:?set CRONIUM to the cronium binary}" "${CRONIUM_PYTHON:?}" "${CRONIUM_NODE_PATH:?}"
: "${TSC:?}" "${NODE_TYPES:?}" "${DOCS_RUST_EXAMPLE:?}" "${CRONIUM_BUILTIN:?}"
# Absolute paths: the cases run in other directories.
for v in CRONIUM CRONIUM_PYTHON CRONIUM_NODE_PATH TSC NODE_TYPES DOCS_RUST_EXAMPLE CRONIUM_BUILTIN; do
  printf -v "$v" '%s' "$(realpath -s "${!v}")"
done
export CRONIUM_PYTHON CRONIUM_NODE_PATH CRONIUM_BUILTIN

work=$(mktemp -d)
receiver=
cleanup() {
  if [[ -n $receiver ]]; then kill "$receiver" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export CRONIUM_LOG=error
# Every state the snippets make lives here, never in the user's state directory.
export CRONIUM_STATE_DIR=$work/state
mkdir -p "$work/bin" "$CRONIUM_STATE_DIR"
ln -s "$CRONIUM" "$work/bin/cronium"
export PATH=$work/bin:$PATH

passed=0
failed=0
# check NAME PYTHON-EXPRESSION: evaluated with `d` (the --json report of the case, or {}),
# `out`/`err` (its stdout/stderr) and `received` (what the receivers got so far).
check() {
  local name=$1 expr=$2
  if python3 - "$work" "$name" "$expr" <<'PY'; then
import json, os, sys
work, name, expr = sys.argv[1:]
def text(path):
    return open(path, encoding="utf-8").read() if os.path.exists(path) else ""
out, err = text(f"{work}/{name}.out"), text(f"{work}/{name}.err")
try:
    d = json.loads(out)
except ValueError:
    d = {}
received = [json.loads(l) for l in text(f"{work}/received.jsonl").splitlines()]
sys.exit(0 if eval(expr) else 1)
PY
    passed=$((passed + 1))
    echo "ok      $name"
  else
    failed=$((failed + 1))
    echo "FAILED  $name: expected $expr"
    sed 's/^/  out| /' "$work/$name.out" 2>/dev/null | tail -n 30 || true
    sed 's/^/  err| /' "$work/$name.err" 2>/dev/null | tail -n 30 || true
  fi
}
# run NAME ARGS...: `cronium run ARGS --json` as user docs, stdout/stderr kept for check.
run() {
  local name=$1
  shift
  cronium run "$@" --user docs --timeout 60s --json >"$work/$name.out" 2>"$work/$name.err" || true
}
# sh NAME COMMAND...: any command, stdout/stderr kept for check.
sh() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" || echo "exit $?" >>"$work/$name.err"
}
# Status and report of a script that ran to its end.
ran='d.get("exitCode") == 0 and d.get("ending") == "finished"'

# The receivers, and the user's credentials pointing at them.
python3 "$here/receiver.py" "$work/ports" "$work/received.jsonl" &
receiver=$!
for _ in $(seq 100); do [[ -s $work/ports ]] && break; sleep 0.05; done
read -r http_port smtp_port <"$work/ports"
hook=http://127.0.0.1:$http_port/slack/hook
echo "{\"webhook_url\": \"$hook\"}" | cronium tools add --user docs --tool slack --config - >/dev/null
echo "{\"base_url\": \"http://127.0.0.1:$http_port/api\", \"allowed_paths\": [\"/deploy/*\"]}" |
  cronium tools add --user docs --tool webhook --config - >/dev/null
echo "{\"host\": \"127.0.0.1\", \"port\": $smtp_port, \"security\": \"none\", \"from\": \"Cronium <noreply@example.com>\"}" |
  cronium tools add --user docs --tool email --config - >/dev/null

order='{"id": "A1", "total": 150}'
printf '{"n":1}\n{"n":2}\n' >"$work/records.ndjson"
slack_got() { echo "any(r['kind'] == 'http' and r['path'] == '/slack/hook' and '\"text\":\"$1\"' in r['body'].replace(': ', ':') for r in received)"; }

# README quickstart (uses the repository's target/debug/cronium, as written).
sh quickstart env -u CRONIUM_PYTHON -u CRONIUM_PYTHONPATH -u CRONIUM_NODE_PATH bash "$here/shell/quickstart.sh"
check quickstart 'out.count("Hello, Ada!") == 3 and err.count("exit code      0") == 3 and all(f"── cronium run hello.{e})" in err for e in ("sh (bash", "py (python", "js (node"))'

# Python
run python-short "$here/python/short.py" --input "$order"
check python-short "$ran and d['output'] == {'id': 'A1', 'ok': True} and d['condition'] is True"
run python-basics "$here/python/basics.py" --input "$order" --input-stream "$work/records.ndjson"
check python-basics "$ran and d['output'] == {'id': 'A1', 'ok': True} and d['outputStream']['records'] == 2 and $(slack_got "done")"
run python-aio "$here/python/aio.py" --input-stream "$work/records.ndjson"
check python-aio "$ran and d['outputStream']['records'] == 2 and 'runs is now' in d['stdout']"
run python-tools "$here/python/tools.py"
check python-tools "$ran and $(slack_got 'deploy done') and any(r['kind'] == 'smtp' and 'Subject: Nightly' in r['data'] for r in received)"

# Node.js
run node-short "$here/node/short.mjs" --input "$order"
check node-short "$ran and d['output'] == {'id': 'A1', 'ok': True} and d['condition'] is True"
: >"$work/received.jsonl"
run node-basics "$here/node/basics.js" --input "$order" --input-stream "$work/records.ndjson"
check node-basics "$ran and d['output'] == {'id': 'A1', 'ok': True} and d['outputStream']['records'] == 2 and 'records: 2' in d['stdout'] and $(slack_got "done")"
run node-esm "$here/node/esm.mjs"
check node-esm "$ran and 'invalid_key validation null false' in d['stdout'] and d['output']['runs'] >= 1"
ts=$work/ts
mkdir -p "$ts/node_modules/@types"
cp "$here/node/example.mts" "$here/node/tsconfig.json" "$ts/"
ln -s "$CRONIUM_NODE_PATH/cronium" "$ts/node_modules/cronium"
ln -s "$NODE_TYPES/node" "$ts/node_modules/@types/node"
sh typescript-tsc "$TSC" -p "$ts"
check typescript-tsc "not err"
run typescript "$ts/example.mjs" --input "$order"
check typescript "$ran and d['output'] == {'id': 'A1', 'big': True} and 'invalid_key validation null false' in d['stdout']"
: >"$work/received.jsonl"
run node-tools "$here/node/tools.js"
check node-tools "$ran and $(slack_got 'deploy done') and any(r['kind'] == 'http' and r['method'] == 'POST' and r['path'] == '/api/deploy/42' for r in received)"

# Bash
run bash-short "$here/bash/short.sh" --event nightly
check bash-short "$ran and d['output']['status'] == 'ok' and d['condition'] is True and {'key': 'last_event', 'value': 'nightly', 'deleted': False} in d['variables']"
: >"$work/received.jsonl"
run bash-tools "$here/bash/tools.sh"
check bash-tools "$ran and $(slack_got 'deploy done')"
run bash-builtin "$here/bash/builtin.sh" --input '[1,2]'
check bash-builtin "$ran and d['output'] == {'ok': True} and d['condition'] is True and d['stdout'].startswith('[1,2]')"

# The API by hand, and the operator's tool commands (their own state directories).
: >"$work/received.jsonl"
sh api-tour env SLACK_WEBHOOK_URL="$hook" bash "$here/shell/api-tour.sh"
check api-tour "'{\"data\":{\"n\":2}}' in out and '\n{\"n\":2}\n' in out and '\"tool\":\"slack\"' in out and 'exit' not in err and $(slack_got "done")"
sh admin-api bash "$here/shell/admin-api.sh"
check admin-api "'\"created\":true' in out and '\"code\":\"execution_finished\"' in out and '\"code\":\"script_token_refused\"' in out and '\"code\":\"admin_credential_refused\"' in out and 'status         finished (succeeded, exit code 0)' in out and '{\"theme\":\"dark\"}' in out and 'the per-job sidecar exited' in out and 'exit' not in err"
mkdir -p "$work/op-state" "$work/op-keys"
: >"$work/received.jsonl"
sh tools-operator env CR="$work/op-state" KEYS="$work/op-keys" SLACK_WEBHOOK_URL="$hook" bash "$here/shell/tools-operator.sh"
check tools-operator "'exit' not in err and 'slack' in out and $(slack_got hello)"

# C: installed and linked as docs/c.md says (debug build: quicker, same library), then run.
mkdir -p "$work/capp" "$work/home"
cp "$here/c/basics.c" "$work/capp/app.c"
# HOME is the install prefix's; cargo and rustup keep finding their own homes.
(cd "$work/capp" && sh c-build env HOME="$work/home" C_PROFILE=debug \
  RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" \
  bash "$here/c/build.sh")
check c-build "'exit' not in err"
# shellcheck disable=SC2016 # expanded by the script, not here
printf 'exec "$PROGRAM"\n' >"$work/exec.sh"
run c "$work/exec.sh" --env "PROGRAM=$work/capp/app" --input "$order"
check c "$ran and d['output'] == {'ok': True} and 'input: {\"id\":\"A1\",\"total\":150}' in d['stdout']"
# Its failure path prints the library's whole message, however long (issue 18, item 8: a
# 256-byte buffer cut this one off): a socket path of 200 characters that does not exist.
long_socket=$work/$(printf 'd%.0s' $(seq 200))/runtime.sock
sh c-error env CRONIUM_RUNTIME_SOCKET="$long_socket" CRONIUM_EXECUTION_TOKEN=unused "$work/capp/app"
check c-error "err.startswith('cronium: no Cronium runtime') and '$long_socket' in err and err.rstrip().endswith('get these automatically)\nexit 1')"
# docs/bindings.md's watch, linked against the same installed library.
cp "$here/c/watch.c" "$work/capp/watch.c"
# shellcheck disable=SC2016 # expanded by the inner bash
(cd "$work/capp" && sh c-watch-build env PKG_CONFIG_PATH="$work/home/.local/lib/pkgconfig" \
  bash -c 'gcc watch.c $(pkg-config --cflags --libs cronium) -pthread -Wl,-rpath,"$(pkg-config --variable=libdir cronium)" -o watch')
check c-watch-build "'exit' not in err"
run c-watch "$work/exec.sh" --env "PROGRAM=$work/capp/watch"
check c-watch "$ran and d['output'] == {'watched': True} and [json.loads(l)['value'] for l in d['stdout'].splitlines()] == [1, 2]"

# Rust
run rust "$work/exec.sh" --env "PROGRAM=$DOCS_RUST_EXAMPLE" --input "$order"
check rust "$ran and d['output'] == {'id': 'A1', 'ok': True}"

echo "$passed passed, $failed failed"
((failed == 0))

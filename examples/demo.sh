#!/usr/bin/env bash
# The demo (`make demo`): `cronium run` on the examples in every language this machine can
# run, as a person at a terminal would, then what the store kept. Everything lives in a
# temp state dir removed at the end. `make demo-api` shows the HTTP API underneath.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CRONIUM=${CRONIUM:-cronium}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CRONIUM_LOG=error

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '(%s)\n' "$*"; }
# run ARGS...: shows the command, runs it; a non-zero exit is part of the show.
run() {
  local shown=() a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@-]+$ ]]; then shown+=("$a"); else shown+=("'$a'"); fi
  done
  printf '$ cronium run %s\n' "${shown[*]}"
  "$CRONIUM" --state-dir "$work/state" run "$@" || true
}

step "Bash: no source line; the cronium_* helpers are there when the script starts"
run examples/hello.sh --input '{"name":"Ada"}'

step "Again: variables belong to the user, so the count goes on and the condition flips (--json for machines)"
run examples/hello.sh --input '{"name":"Grace"}' --json

step "A script that fails or runs too long still reports what it wrote"
cat >"$work/slow.sh" <<'SCRIPT'
cronium_set_variable progress 50
cronium_output '{"partial": true}'
echo "working..."
sleep 30
SCRIPT
run "$work/slow.sh" --timeout 1s

step "--isolate: like a container (no network, read-only root, private /tmp, only /run/cronium)"
if command -v bwrap >/dev/null; then
  # A listener on this machine's loopback: reachable from any ordinary process here, not
  # from inside the isolated script's own network namespace.
  python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)' >"$work/port" &
  listener=$!
  for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.05; done
  echo "a TCP listener on this machine: 127.0.0.1:$(cat "$work/port")"
  cat >"$work/isolated.sh" <<'SCRIPT'
echo "socket: $CRONIUM_RUNTIME_SOCKET"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then echo "network: reachable"; else echo "network: none (127.0.0.1:$PORT is unreachable in here)"; fi
if touch /usr/probe 2>/dev/null; then echo "root: writable"; else echo "root: read-only"; fi
echo "input: $(cronium_input)"
cronium_output '{"isolated": true}'
SCRIPT
  run "$work/isolated.sh" --isolate --input '[1,2,3]' --env "PORT=$(cat "$work/port")"
  kill "$listener" 2>/dev/null || true
else
  note "skipped: bubblewrap is not installed (apt-get install bubblewrap)"
fi

step "Python: import cronium"
python=${CRONIUM_PYTHON:-python3}
# `make demo` installs the module into .venv and points CRONIUM_PYTHON there; the runner
# adds CRONIUM_PYTHONPATH for a module built elsewhere.
if command -v "$python" >/dev/null &&
  PYTHONPATH=${CRONIUM_PYTHONPATH:-} "$python" -c 'import cronium; cronium.input' 2>/dev/null; then
  run examples/hello.py --input '{"name":"Ada"}'
else
  note "skipped: the Python binding is not importable (build it: see bindings/python; or set CRONIUM_PYTHONPATH)"
fi

step "Node.js: require('cronium')"
node=${CRONIUM_NODE:-node}
if [[ -z ${CRONIUM_NODE_PATH:-} && -f bindings/node/package.json ]]; then
  mkdir -p "$work/node_modules"
  ln -s "$root/bindings/node" "$work/node_modules/cronium"
  export CRONIUM_NODE_PATH=$work/node_modules
fi
if command -v "$node" >/dev/null &&
  NODE_PATH=${CRONIUM_NODE_PATH:-} "$node" -e "if (typeof require('cronium').input !== 'function') process.exit(1)" 2>/dev/null; then
  run examples/hello.js --input '{"name":"Ada"}'
else
  note "skipped: the Node binding is not loadable (build it: see bindings/node; or set CRONIUM_NODE_PATH)"
fi

step "What the store kept: cronium executions list, and the user's variables"
"$CRONIUM" --state-dir "$work/state" executions list
"$CRONIUM" --state-dir "$work/state" variables list --user "${USER:-local}" |
  while read -r key; do
    printf '%-12s %s\n' "$key" "$("$CRONIUM" --state-dir "$work/state" variables get --user "${USER:-local}" "$key")"
  done

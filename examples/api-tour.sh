#!/usr/bin/env bash
# shellcheck disable=SC2012,SC2016 # ls output and literal $ are only shown, never parsed
# The API tour (`make demo-api`): what `cronium run` does underneath, one step at a time.
# Start the sidecar on a private socket, create an execution the way the orchestrator does,
# call the API the way a script's client does (curl --unix-socket), and show what the
# platform recorded. Everything lives in a temp dir removed at the end.
set -euo pipefail

CRONIUM=${CRONIUM:-cronium}
work=$(mktemp -d)
sidecar_pid=
cleanup() {
  [ -n "$sidecar_pid" ] && kill "$sidecar_pid" 2>/dev/null && wait "$sidecar_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*" | sed "s|$work|\$WORK|g; s|Bearer [A-Za-z0-9._-]*|Bearer \$TOKEN|"; }

socket="$work/run/runtime.sock"
step "cronium serve: the sidecar, on a Unix socket in a private directory"
show "cronium serve --socket $socket"
CRONIUM_LOG=warn "$CRONIUM" --state-dir "$work/state" serve --socket "$socket" &
sidecar_pid=$!
for _ in $(seq 100); do [ -S "$socket" ] && break; sleep 0.05; done
ls -l "$socket" | sed "s|$work|\$WORK|"

step "cronium executions create: what the orchestrator does before starting a script"
created=$("$CRONIUM" --state-dir "$work/state" executions create --user ada \
  --event nightly-report --input '{"orders": [120, 80, 310]}' --json)
id=$(sed -E 's/.*"id":"([^"]+)".*/\1/' <<<"$created")
token=$(sed -E 's/.*"token":"([^"]+)".*/\1/' <<<"$created")
echo "execution $id (token kept in \$TOKEN, never printed)"

api() {
  local method=$1 path=$2 body=${3:-}
  show "curl --unix-socket \$SOCK -X $method http://cronium$path ${body:+-d '$body'}"
  if [ -n "$body" ]; then
    curl -sS --unix-socket "$socket" -X "$method" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d "$body" "http://cronium$path"
  else
    curl -sS --unix-socket "$socket" -X "$method" -H "Authorization: Bearer $token" "http://cronium$path"
  fi
  echo
}

step "A script's calls: input, variables, condition, output"
api GET /v1/input
api GET '/v1/input?raw'
api GET /v1/context
api PUT /v1/variables/orders_seen '{"value": 3}'
api GET /v1/variables/orders_seen
api PUT /v1/condition '{"condition": true}'
api PUT /v1/output '{"data": {"total": 510, "ok": true}}'

step "Bad input gets a JSON error with a stable code"
api PUT /v1/variables/bad%20key '{"value": 1}'
api PUT /v1/output '{"data": '

step "cronium executions show: what the platform recorded"
"$CRONIUM" --state-dir "$work/state" executions show "$id" | sed "s|$work|\$WORK|g"

step "Stopping the sidecar (SIGTERM drains and removes the socket)"
kill -TERM "$sidecar_pid"; wait "$sidecar_pid" || true; sidecar_pid=
[ -e "$socket" ] && echo "socket still there!" || echo "socket removed"

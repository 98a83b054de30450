#!/usr/bin/env bash
# shellcheck disable=SC2016 # code for child shells is single-quoted on purpose
# The Bash helpers against a real sidecar (started by the test kit, tests/kit) on a temp
# socket and a TCP port, executions made with `cronium executions create --json`: what is
# specific to Bash (sourcing, FIELD arguments, set -e, the output checked in the store as no
# helper reads it back, watches, transports, argv, old names, shellcheck). Values, keys,
# conditions, the context, streams read and refused tokens are the conformance suite's
# (tests/conformance, `make test-conformance`, in Bash on curl and on the builtin).
# Ends with a line "N passed, N failed"; exits non-zero when anything failed.
#
#   bindings/bash/tests/run.sh            (CRONIUM=path/to/cronium to pick the binary)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
helpers=$here/../cronium.sh
CRONIUM=${CRONIUM:-$root/target/debug/cronium}
if [[ ! -x $CRONIUM ]]; then
  echo "no cronium binary at $CRONIUM; run cargo build -p cronium-cli first" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# shellcheck source=/dev/null # tests/kit/kit.sh, checked on its own
source "$root/tests/kit/kit.sh"
work=$(mktemp -d)
cleanup() {
  kit_stop
  rm -rf "$work"
}
trap cleanup EXIT

pass=0
fail=0
ok() {
  pass=$((pass + 1))
  printf 'ok    %s\n' "$1"
}
bad() {
  fail=$((fail + 1))
  printf 'FAIL  %s: %s\n' "$1" "$2"
}
# eq NAME ACTUAL EXPECTED
eq() {
  if [[ $2 == "$3" ]]; then ok "$1"; else bad "$1" "expected [$3], got [$2]"; fi
}
# has NAME TEXT NEEDLE
has() {
  if [[ $2 == *"$3"* ]]; then ok "$1"; else bad "$1" "[$3] not in [$2]"; fi
}

export CRONIUM_LOG=error
# The sidecar (started by the test kit) and the admin commands below share this secret.
export CRONIUM_TOKEN_SECRET=bash-tests-secret-bash-tests-secret-0123
if ! kit_start; then
  echo "0 passed, 1 failed"
  exit 1
fi
state=$KIT_STATE
socket=$KIT_SOCKET
port=$KIT_PORT

# new_execution [ARGS...]: prints "ID TOKEN".
new_execution() {
  local created re='"id":"([^"]+)".*"token":"([^"]+)"'
  created=$("$CRONIUM" --state-dir "$state" executions create --json "$@") || return 1
  [[ $created =~ $re ]] || return 1
  printf '%s %s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}
show() { "$CRONIUM" --state-dir "$state" executions show "$1" --json; }

read -r ID TOKEN < <(new_execution --user ada --event nightly --input '{"name":"Ada","n":[1,2]}' \
  --context '{"region":"eu","deep":{"a":[1,{"b":"}"}]},"quote":"say \"hi\""}')

# in_script [ENV=VALUE...] -- CODE: runs CODE in a fresh bash with the helpers sourced and
# the first execution's environment, under set -euo pipefail. stdout to $out, stderr to
# $err, status to $rc.
in_script() {
  local envs=(CRONIUM_RUNTIME_SOCKET="$socket" CRONIUM_EXECUTION_TOKEN="$TOKEN" CRONIUM_EXECUTION_ID="$ID")
  while [[ $1 != -- ]]; do
    envs+=("$1")
    shift
  done
  shift
  out=$(env -u CRONIUM_RUNTIME_API -u CRONIUM_EXECUTION_TOKEN_FILE "${envs[@]}" \
    bash -c 'set -euo pipefail; source "$0"; '"$1" "$helpers" 2>"$work/err")
  rc=$?
  err=$(<"$work/err")
}

# --- the forkless builtin (make test runs this suite twice: on curl, then with it) ------
if [[ -n ${CRONIUM_BUILTIN-} ]]; then
  echo "# mode: builtin ($CRONIUM_BUILTIN)"
  in_script -- 'echo "$_cronium_native"; type -t cronium_native'
  eq "the cronium_native builtin is loaded from CRONIUM_BUILTIN" "$out" $'1\nbuiltin'
  # The builtin once was named `cronium` and shadowed the CLI in every shell that loaded it.
  in_script PATH="$(dirname "$CRONIUM"):$PATH" -- 'type -t cronium; cronium --version'
  has "the cronium CLI stays reachable beside the builtin" "$rc:$out" $'0:file\ncronium '
  in_script -- 'PATH=/nonexistent; cronium_set_variable nofork "{\"a\":1}"; cronium_get_variable nofork; cronium_input >/dev/null; echo ok'
  eq "the helpers need no curl (no fork, no exec) with the builtin" "$rc:$out" $'0:{"a":1}\nok'
  in_script -- 'cronium_native -v got get-variable nofork; cronium_native -v absent get-variable never_set 7; cronium_native delete-variable nofork; echo "$got $absent"'
  eq "cronium_native -v NAME assigns like printf -v" "$out" '{"a":1} 7'
  in_script -- 'cronium_native get-condition extra || echo "rc=$?"; cronium_native nope || echo "rc=$?"'
  has "an unknown subcommand is a usage error (status 2)" "$out:$err" 'rc=2:cronium_native: invalid_argument: unknown'
else
  echo "# mode: curl"
fi

# --- sourcing -------------------------------------------------------------------------
out=$(env -i PATH="$PATH" bash -c 'set -euo pipefail; source "$0"; echo sourced; cronium_input; echo after' "$helpers" 2>"$work/err")
rc=$?
err=$(<"$work/err")
eq "sourcing without any environment does not exit" "$out" "sourced"
eq "a call without a token fails under set -e" "$rc" "1"
eq "  with one line naming the code" "$err" "cronium_input: token_missing: CRONIUM_EXECUTION_TOKEN is not set; run the script with 'cronium run'"
out=$(sh -c '. "$0"; echo still-here' "$helpers" 2>&1)
eq "sourcing from sh (not bash) breaks nothing" "$out" "still-here"
out=$(bash -c 'set -u; source "$0"; source "$0"; type -t cronium_output cronium_getVariable cronium_watch_variable' "$helpers" 2>&1)
eq "sourcing twice defines every function" "$out" $'function\nfunction\nfunction'

# --- event ----------------------------------------------------------------------------
in_script -- 'cronium_event name; cronium_event eventName; cronium_event region; cronium_event deep; cronium_event quote; cronium_event attempt; cronium_event jobId'
eq "cronium_event FIELD: strings bare, others as JSON" "$out" $'nightly\nnightly\neu\n{"a":[1,{"b":"}"}]}\nsay "hi"\n1\nnull'
in_script -- 'cronium_event nope'
eq "cronium_event of a missing field fails" "$rc:$err" "1:cronium_event: field_not_found: the event context has no field 'nope'"
# Today's name of the context call (cronium_event stays as the old scripts' name).
in_script -- 'cronium_get_context name; cronium_get_context'
has "cronium_get_context FIELD and the whole context" "$out" $'nightly\n{'
in_script -- 'cronium_get_context nope'
eq "cronium_get_context names itself in its error line" "$rc:$err" "1:cronium_get_context: field_not_found: the event context has no field 'nope'"

# --- variables ------------------------------------------------------------------------
in_script -- 'cronium_set_variable k "not json"'
has "invalid JSON fails naming the API code" "$rc:$err" "1:cronium_set_variable: invalid_json: "
# An unquoted string: the same line on curl and on the builtin, with the quoting hint.
in_script -- 'cronium_set_variable k Ada'
eq "a bare word is refused with a hint about quoting" "$rc:$err" \
  "1:cronium_set_variable: invalid_json: the value is not JSON: Ada; a string needs its JSON quotes, e.g. '\"Ada\"'"
in_script -- 'cronium_output done'
has "cronium_output says the same" "$rc:$err" "1:cronium_output: invalid_json: the value is not JSON: done; a string"
in_script -- 'cronium_set_variable k " true "; cronium_set_variable k -1.5; cronium_set_variable k "[1]"; cronium_get_variable k'
eq "JSON words, numbers and arrays pass the check" "$rc:$out" "0:[1]"
in_script -- 'cronium_set_variable k'
has "a missing value is a usage error" "$rc:$err" "1:cronium_set_variable: invalid_argument"
in_script -- 'cronium_get_variable "bad key"; echo survived'
eq "under set -e a failed call stops the script" "$rc:$out" "1:"
in_script -- 'if cronium_get_variable "bad key" 2>/dev/null; then echo yes; else echo handled; fi'
eq "a failed call can be handled with if" "$rc:$out" "0:handled"

# --- output, streams (checked in the store) --------------------------------------------
in_script -- 'cronium_output "{\"total\": 510}"'
has "cronium_output JSON sets the output" "$rc:$(show "$ID")" '0:{"id":'
has "  and the store has it" "$(show "$ID")" '"output":{"total":510}'
in_script -- 'printf "%s" "{\"from\":\"stdin\"}" | cronium_output'
has "cronium_output reads stdin" "$(show "$ID")" '"output":{"from":"stdin"}'
in_script -- 'cronium_output </dev/null'
has "cronium_output with nothing fails" "$rc:$err" "1:cronium_output: invalid_argument"
in_script -- 'printf "{\"i\":1}\n{\"i\":2}\n\n{\"i\":3}\n" | cronium_stream_output'
has "cronium_stream_output appends NDJSON records" "$rc:$(show "$ID")" '0:'
has "  three records stored" "$(show "$ID")" '"outputStream":{"records":3,'
in_script -- 'printf "{\"i\":4}\nnope\n" | cronium_stream_output'
has "a bad stream line fails naming invalid_ndjson" "$rc:$err" "1:cronium_stream_output: invalid_ndjson"

# --- watch ----------------------------------------------------------------------------
in_script -- '(sleep 0.5; cronium_set_variable watched 1; cronium_delete_variable watched) & cronium_watch_variable watched 2; wait'
re='^\{"key":"watched","value":1,"version":1,.*"deleted":false\}'$'\n''\{"key":"watched","value":null,.*"deleted":true\}$'
if [[ $out =~ $re ]]; then ok "cronium_watch_variable prints one line per change"; else bad "cronium_watch_variable prints one line per change" "$out"; fi

# --- tool actions, info ---------------------------------------------------------------
in_script -- 'cronium_execute_tool_action slack send-message "{\"channel\":\"#a\",\"text\":\"hi\"}"'
# No credential is configured for this user, so the platform refuses; the line names its code.
re='^1:cronium_execute_tool_action: tool_not_configured: [^\\]+$'
if [[ "$rc:$err" =~ $re ]]; then ok "a refused tool action fails with one line naming the code"; else bad "a refused tool action fails with one line naming the code" "$rc:$err"; fi
in_script -- 'cronium_execute_tool_action "bad tool" x "{}"'
has "a bad tool name is a usage error" "$rc:$err" "1:cronium_execute_tool_action: invalid_argument"
in_script -- 'cronium_list_tools'
eq "cronium_list_tools prints the user's tools (none here)" "$rc:$out" "0:[]"
in_script -- 'cronium_info'
has "cronium_info names the transport" "$out" "transport  unix:$socket"
has "  and the runtime answers" "$out" 'runtime    {"status":"ok"}'
if [[ $out == *"$TOKEN"* ]]; then bad "cronium_info never prints the token" "it did"; else ok "cronium_info never prints the token"; fi

# --- transports and tokens ------------------------------------------------------------
in_script CRONIUM_RUNTIME_SOCKET="$work/none.sock" CRONIUM_RUNTIME_API="http://127.0.0.1:$port" -- 'cronium_input; cronium_set_variable tcp true; cronium_get_variable tcp'
eq "TCP when the socket does not exist" "$out" $'{"name":"Ada","n":[1,2]}\ntrue'
in_script CRONIUM_RUNTIME_SOCKET="$work/none.sock" -- 'cronium_input'
has "no socket and no URL: runtime_unreachable" "$rc:$err" "1:cronium_input: runtime_unreachable"
in_script CRONIUM_RUNTIME_SOCKET= CRONIUM_RUNTIME_API="http://127.0.0.1:1" -- 'cronium_set_variable x 1'
has "a refused connection: runtime_unreachable" "$rc:$err" "1:cronium_set_variable: runtime_unreachable"
printf '%s\n' "$TOKEN" >"$work/token"
chmod 600 "$work/token"
in_script CRONIUM_EXECUTION_TOKEN=stale.token.value CRONIUM_EXECUTION_TOKEN_FILE="$work/token" -- 'cronium_input'
eq "the token file wins over the variable" "$out" '{"name":"Ada","n":[1,2]}'
in_script -- 'cronium_watch_variable argv-check 1 >/dev/null & sleep 0.5; cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" " "; cronium_set_variable argv-check 1; wait'
has "  (a helper's curl was running)" "$out" "curl"
if [[ $out == *"$TOKEN"* ]]; then bad "the token is in no process's argv" "found it"; else ok "the token is in no process's argv"; fi

# --- https (a second sidecar on the same store, TLS with a certificate made here) -------
tls_sidecar=
if command -v openssl >/dev/null; then
  tls=$work/tls
  mkdir -p "$tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=test-ca \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 1 -extfile "$tls/ext" -out "$tls/server.pem" 2>/dev/null
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=other \
    -keyout "$tls/other.key" -out "$tls/other.pem" 2>/dev/null
  pin=sha256//$(openssl x509 -in "$tls/server.pem" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)
  tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  CRONIUM_TLS_CERT_FILE=$tls/server.pem CRONIUM_TLS_KEY_FILE=$tls/server.key \
    "$CRONIUM" --state-dir "$state" serve --socket "$tls/rt.sock" --listen "127.0.0.1:$tls_port" 2>"$tls/log" &
  tls_sidecar=$!
  for _ in $(seq 100); do
    [[ -S $tls/rt.sock ]] && break
    sleep 0.05
  done
  https=(CRONIUM_RUNTIME_SOCKET="$work/none.sock" CRONIUM_RUNTIME_API="https://127.0.0.1:$tls_port")
  in_script "${https[@]}" CRONIUM_RUNTIME_CA="$tls/ca.pem" -- 'cronium_set_variable over_tls 1; cronium_get_variable over_tls'
  eq "https with CRONIUM_RUNTIME_CA" "$rc:$out" "0:1"
  in_script "${https[@]}" CRONIUM_RUNTIME_CA_PIN="$pin" -- 'cronium_get_variable over_tls'
  eq "https with CRONIUM_RUNTIME_CA_PIN (the key's sha256)" "$rc:$out" "0:1"
  in_script "${https[@]}" CRONIUM_RUNTIME_CA="$tls/other.pem" -- 'cronium_get_variable over_tls'
  has "a certificate the CA did not sign: tls_failed" "$rc:$err" "1:cronium_get_variable: tls_failed: "
  in_script "${https[@]}" -- 'cronium_get_variable over_tls'
  has "https with nothing to trust: not_configured" "$rc:$err" "1:cronium_get_variable: not_configured: "
  kill "$tls_sidecar" 2>/dev/null
  wait "$tls_sidecar" 2>/dev/null
else
  bad "https tests" "openssl is not installed"
fi

# --- names older Cronium scripts use --------------------------------------------------
in_script -- 'cronium_setVariable greeting "hello world"; cronium_getVariable greeting; cronium_get_variable greeting; cronium_setVariable n 42; cronium_get_variable n; cronium_setCondition true; cronium_getCondition'
eq "legacy names keep plain strings plain" "$out" $'hello world\n"hello world"\n42\ntrue'

# --- the file itself --------------------------------------------------------------------
if command -v shellcheck >/dev/null; then
  if sc=$(shellcheck "$helpers" "$here/run.sh" 2>&1); then ok "shellcheck finds nothing"; else bad "shellcheck finds nothing" "$sc"; fi
else
  bad "shellcheck finds nothing" "shellcheck is not installed (scripts/ensure-tools.sh test installs it)"
fi

echo "$pass passed, $fail failed"
((fail == 0))

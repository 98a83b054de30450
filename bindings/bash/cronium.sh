# shellcheck shell=bash
# Cronium Bash helpers: a script's calls to the Cronium runtime API, one `curl` per call.
#
# `cronium run` makes these functions available to every Bash script through BASH_ENV, so a
# script needs no `source` line; elsewhere, `source cronium.sh`. Sourcing only defines
# functions: it never exits, never changes shell options and works under `set -euo pipefail`,
# even when the environment below is missing (the calls then fail with one line on stderr).
#
# Environment (DESIGN.md "Environment a script gets"):
#   CRONIUM_RUNTIME_SOCKET         the sidecar's Unix socket, used when it exists
#   CRONIUM_RUNTIME_API            http://host:port or https://host:port, used otherwise
#   CRONIUM_RUNTIME_CA             https: the CA file that signed the sidecar's certificate
#   CRONIUM_RUNTIME_CA_PIN         https: sha256//BASE64 of the sidecar's public key
#   CRONIUM_RUNTIME_CLIENT_CERT    https: client certificate and key files, for a sidecar
#   CRONIUM_RUNTIME_CLIENT_KEY       that requires one
#   CRONIUM_EXECUTION_TOKEN        the execution's bearer token
#   CRONIUM_EXECUTION_TOKEN_FILE   optional: a private file holding the current token, kept
#                                  fresh by `cronium run`; read on every call when present
#
# The token never appears in curl's argv (where `ps` shows it): curl reads the Authorization
# header from file descriptor 3 (`-H @/dev/fd/3`), fed by a here-string.
#
# Forkless mode: when CRONIUM_BUILTIN names the Bash loadable builtin built on libcronium
# (bindings/c/builtin, `make c-builtin`), sourcing loads it and the functions below call it
# (`cronium_native SUBCOMMAND ...`: no fork, no exec, one kept connection) instead of curl.
# It is named `cronium_native`, not `cronium`, so the `cronium` command line tool stays
# reachable in a shell that loads it. Output,
# status and error lines are the same either way; without it (or when it cannot be loaded)
# everything runs on curl.
#
# Reads use the API's raw representation (`?raw`), so no jq is needed. Every function
# returns 0 on success; on failure it returns non-zero and prints one line on stderr:
#   FUNCTION: CODE: MESSAGE      (CODE is the API's error code, e.g. variable_not_found)

# Not bash (e.g. sourced by dash): define nothing, break nothing.
if [ -z "${BASH_VERSION:-}" ]; then
  # shellcheck disable=SC2317 # reached only when sourced by a shell that cannot return
  return 0 2>/dev/null || true
fi

# _cronium_native: 1 when the `cronium_native` builtin is loaded (from $CRONIUM_BUILTIN), else 0.
_cronium_native=0
if [[ -n ${CRONIUM_BUILTIN-} ]] && {
  enable cronium_native 2>/dev/null || enable -f "$CRONIUM_BUILTIN" cronium_native 2>/dev/null
}; then
  _cronium_native=1
fi

# _cronium_fail FUNCTION CODE MESSAGE: the one error line, and a failing status.
_cronium_fail() {
  printf '%s: %s: %s\n' "$1" "$2" "$3" >&2
  return 1
}

# _cronium_setup: picks the transport and the token (globals _cronium_conn, _cronium_base,
# _cronium_tok). Cheap: builtins only. On failure sets _cronium_code/_cronium_msg, prints
# nothing and returns 1.
_cronium_setup() {
  _cronium_tok=${CRONIUM_EXECUTION_TOKEN-}
  if [[ -n ${CRONIUM_EXECUTION_TOKEN_FILE-} && -r ${CRONIUM_EXECUTION_TOKEN_FILE} ]]; then
    IFS= read -r _cronium_tok <"$CRONIUM_EXECUTION_TOKEN_FILE" || :
  fi
  if [[ -z $_cronium_tok ]]; then
    _cronium_code=token_missing
    _cronium_msg="CRONIUM_EXECUTION_TOKEN is not set; run the script with 'cronium run'"
    return 1
  fi
  if [[ -n ${CRONIUM_RUNTIME_SOCKET-} && -S ${CRONIUM_RUNTIME_SOCKET} ]]; then
    _cronium_conn=(--unix-socket "$CRONIUM_RUNTIME_SOCKET")
    _cronium_base=http://cronium
  elif [[ -n ${CRONIUM_RUNTIME_API-} ]]; then
    _cronium_conn=()
    _cronium_base=${CRONIUM_RUNTIME_API%/}
    if [[ $_cronium_base == https://* ]]; then
      _cronium_tls || return 1
    fi
  elif [[ -z ${CRONIUM_RUNTIME_SOCKET-} && -S /run/cronium/runtime.sock ]]; then
    _cronium_conn=(--unix-socket /run/cronium/runtime.sock)
    _cronium_base=http://cronium
  else
    _cronium_code=runtime_unreachable
    _cronium_msg="no socket at ${CRONIUM_RUNTIME_SOCKET:-/run/cronium/runtime.sock} and CRONIUM_RUNTIME_API is not set"
    return 1
  fi
}

# _cronium_tls: curl's options for an https:// runtime, the same trust client-core has:
# the CA file, and/or the public-key pin (a pin alone trusts the key, not a chain, so a
# self-signed certificate works), and the client certificate when one is configured.
_cronium_tls() {
  if [[ -z ${CRONIUM_RUNTIME_CA-}${CRONIUM_RUNTIME_CA_PIN-} ]]; then
    _cronium_code=not_configured
    _cronium_msg="an https:// runtime URL needs CRONIUM_RUNTIME_CA (the CA file that signed the sidecar's certificate) or CRONIUM_RUNTIME_CA_PIN (sha256//BASE64 of its public key)"
    return 1
  fi
  if [[ -n ${CRONIUM_RUNTIME_CA-} ]]; then
    _cronium_conn+=(--cacert "$CRONIUM_RUNTIME_CA")
  fi
  if [[ -n ${CRONIUM_RUNTIME_CA_PIN-} ]]; then
    _cronium_conn+=(--pinnedpubkey "$CRONIUM_RUNTIME_CA_PIN")
    if [[ -z ${CRONIUM_RUNTIME_CA-} ]]; then
      _cronium_conn+=(--insecure)
    fi
  fi
  if [[ -n ${CRONIUM_RUNTIME_CLIENT_CERT-} ]]; then
    _cronium_conn+=(--cert "$CRONIUM_RUNTIME_CLIENT_CERT" --key "${CRONIUM_RUNTIME_CLIENT_KEY-}")
  fi
}

# _cronium_get FUNCTION PATH: the hot path of reads. Streams the answer to stdout (plus a
# newline unless NL=0 is given as third argument); on an HTTP error, asks again to name it.
_cronium_get() {
  _cronium_setup || {
    _cronium_report "$1"
    return
  }
  if curl -sf "${_cronium_conn[@]}" -H @/dev/fd/3 "$_cronium_base$2" 3<<<"Authorization: Bearer $_cronium_tok"; then
    [[ ${3-1} == 0 ]] || printf '\n'
    return 0
  fi
  _cronium_call "$1" GET "$2" && printf '%s\n' "$_cronium_body"
}

# _cronium_request FUNCTION METHOD PATH [BODY]: one request with the answer captured.
# Sets _cronium_status and _cronium_body; on failure also _cronium_code and _cronium_msg,
# and returns 1 without printing (the caller decides: report, or e.g. use a default).
# BODY "-" streams stdin as a chunked upload; other bodies go through stdin too (not argv).
_cronium_request() {
  _cronium_setup || return 1
  local out
  case ${4-} in
    '')
      out=$(curl -sS "${_cronium_conn[@]}" -X "$2" -H @/dev/fd/3 -w '\n%{http_code}' \
        "$_cronium_base$3" 3<<<"Authorization: Bearer $_cronium_tok" 2>&1) || :
      ;;
    -)
      out=$(curl -sS "${_cronium_conn[@]}" -X "$2" -H @/dev/fd/3 -w '\n%{http_code}' \
        -H 'Content-Type: application/x-ndjson' -T - \
        "$_cronium_base$3" 3<<<"Authorization: Bearer $_cronium_tok" 2>&1) || :
      ;;
    *)
      out=$(curl -sS "${_cronium_conn[@]}" -X "$2" -H @/dev/fd/3 -w '\n%{http_code}' \
        -H 'Content-Type: application/json' --data-binary @- \
        "$_cronium_base$3" 3<<<"Authorization: Bearer $_cronium_tok" 2>&1 <<<"$4") || :
      ;;
  esac
  _cronium_status=${out##*$'\n'}
  if [[ $out == *$'\n'* ]]; then _cronium_body=${out%$'\n'*}; else _cronium_body=; fi
  if [[ $_cronium_status =~ ^2[0-9][0-9]$ ]]; then
    return 0
  fi
  local re_code='"code":"([a-z_]+)"' re_msg='"message":"(([^"\\]|\\.)*)"'
  if [[ $_cronium_body =~ $re_code ]]; then
    _cronium_code=${BASH_REMATCH[1]}
    _cronium_msg=
    if [[ $_cronium_body =~ $re_msg ]]; then
      _cronium_msg=${BASH_REMATCH[1]//\\\"/\"}
      _cronium_msg=${_cronium_msg//\\\\/\\}
    fi
  elif [[ $out =~ curl:\ \((35|58|59|60|66|77|83|90|91)\) ]]; then
    # TLS: the server's certificate is not trusted, or the server refused ours.
    _cronium_code=tls_failed
    _cronium_msg=${out//$'\n'/ }
    _cronium_msg="${_cronium_msg% 000}; check CRONIUM_RUNTIME_CA / CRONIUM_RUNTIME_CA_PIN"
  elif [[ ! $_cronium_status =~ ^[0-9]{3}$ || $_cronium_status == 000 ]]; then
    _cronium_code=runtime_unreachable
    _cronium_msg=${out//$'\n'/ }
    _cronium_msg=${_cronium_msg% 000}
  else
    _cronium_code=http_$_cronium_status
    _cronium_msg=${_cronium_body:0:200}
  fi
  return 1
}

# _cronium_report FUNCTION: the error line of the last failed request.
_cronium_report() {
  _cronium_fail "$1" "${_cronium_code:-unknown}" "${_cronium_msg:-request failed}"
}

# _cronium_call FUNCTION METHOD PATH [BODY]: a request; on failure, the error line.
_cronium_call() {
  _cronium_request "$@" || {
    _cronium_report "$1"
    return
  }
}

# _cronium_write FUNCTION METHOD PATH [BODY]: the hot path of idempotent writes (PUT,
# DELETE): one curl, nothing captured. A failed write changed nothing, so on failure it is
# asked again with the answer captured, to name the error.
_cronium_write() {
  _cronium_setup || {
    _cronium_report "$1"
    return
  }
  if [[ -n ${4-} ]]; then
    if curl -sf -o /dev/null "${_cronium_conn[@]}" -X "$2" -H @/dev/fd/3 \
      -H 'Content-Type: application/json' --data-binary @- \
      "$_cronium_base$3" 3<<<"Authorization: Bearer $_cronium_tok" <<<"$4"; then
      return 0
    fi
  elif curl -sf -o /dev/null "${_cronium_conn[@]}" -X "$2" -H @/dev/fd/3 \
    "$_cronium_base$3" 3<<<"Authorization: Bearer $_cronium_tok"; then
    return 0
  fi
  _cronium_call "$@"
}

# _cronium_key FUNCTION KEY: checks a variable key (1-256 of A-Z a-z 0-9 _ . : -) and sets
# _cronium_seg to its URL path segment. A key of dots only (`.`, `..`) has its dots
# percent-encoded, as client-core does: curl would otherwise resolve `/v1/variables/..`
# as path navigation and the request would name no key. Every other valid key is sent as is.
_cronium_key() {
  # A glob, not a regex: compiling {1,256} on every call costs more than the check.
  if [[ -z ${2-} || ${#2} -gt 256 || $2 == *[!A-Za-z0-9_.:-]* ]]; then
    _cronium_fail "$1" invalid_key "a variable key is 1 to 256 characters of A-Z a-z 0-9 _ . : - (got '${2-}')"
    return
  fi
  if [[ -z ${2//./} ]]; then
    _cronium_seg=${2//./%2E}
  else
    _cronium_seg=$2
  fi
}

# _cronium_unwrap: strips the {"data":...} envelope of _cronium_body.
_cronium_unwrap() {
  local d=${_cronium_body#\{\"data\":}
  printf '%s\n' "${d%\}}"
}

# cronium_input: prints the execution's input (JSON; null when none).
cronium_input() {
  if ((_cronium_native)); then
    cronium_native input
    return
  fi
  _cronium_get cronium_input '/v1/input?raw'
}

# _cronium_bare_word FUNCTION VALUE: fails with invalid_json and a hint about quoting when
# VALUE is a bare word (`Ada`, `done`): the commonest JSON mistake in a shell, answered with
# the same line on curl and on the builtin (the server and libcronium word their parse
# errors differently).
_cronium_bare_word() {
  local v=${2#"${2%%[![:space:]]*}"}
  v=${v%"${v##*[![:space:]]}"}
  case $v in
    true | false | null | [\{\[\"0-9-]*) return 0 ;;
  esac
  (( ${#v} <= 40 )) || v="${v:0:40}..."
  _cronium_fail "$1" invalid_json "the value is not JSON: $v; a string needs its JSON quotes, e.g. '\"$v\"'"
}

# cronium_output [JSON]: sets the output (last write wins); without an argument, reads the
# JSON from stdin.
cronium_output() {
  local value
  if (($#)); then
    value=$1
  else
    IFS= read -r -d '' value || :
  fi
  if [[ $value != *[![:space:]]* ]]; then
    _cronium_fail cronium_output invalid_argument "give a JSON value, as argument or on stdin"
    return
  fi
  _cronium_bare_word cronium_output "$value" || return
  if ((_cronium_native)); then
    cronium_native output "$value"
    return
  fi
  _cronium_write cronium_output PUT /v1/output "{\"data\":$value}"
}

# cronium_get_variable KEY [DEFAULT]: prints the variable's JSON value; when it does not
# exist, prints DEFAULT (or null).
cronium_get_variable() {
  _cronium_key cronium_get_variable "${1-}" || return
  if ((_cronium_native)); then
    cronium_native get-variable "$1" "${2-null}"
    return
  fi
  _cronium_setup || {
    _cronium_report cronium_get_variable
    return
  }
  if curl -sf "${_cronium_conn[@]}" -H @/dev/fd/3 "$_cronium_base/v1/variables/$_cronium_seg?raw" 3<<<"Authorization: Bearer $_cronium_tok"; then
    printf '\n'
    return 0
  fi
  if _cronium_request cronium_get_variable GET "/v1/variables/$_cronium_seg?raw"; then
    printf '%s\n' "$_cronium_body"
  elif [[ ${_cronium_code-} == variable_not_found ]]; then
    printf '%s\n' "${2-null}"
  else
    _cronium_report cronium_get_variable
  fi
}

# cronium_set_variable KEY JSON: writes a variable of the user (strings need their quotes:
# cronium_set_variable name '"Ada"').
cronium_set_variable() {
  _cronium_key cronium_set_variable "${1-}" || return
  if (($# < 2)) || [[ $2 != *[![:space:]]* ]]; then
    _cronium_fail cronium_set_variable invalid_argument "usage: cronium_set_variable KEY JSON"
    return
  fi
  _cronium_bare_word cronium_set_variable "$2" || return
  if ((_cronium_native)); then
    cronium_native set-variable "$1" "$2"
    return
  fi
  _cronium_write cronium_set_variable PUT "/v1/variables/$_cronium_seg" "{\"value\":$2}"
}

# cronium_delete_variable KEY: removes a variable (removing a missing one is no error).
cronium_delete_variable() {
  _cronium_key cronium_delete_variable "${1-}" || return
  if ((_cronium_native)); then
    cronium_native delete-variable "$1"
    return
  fi
  _cronium_write cronium_delete_variable DELETE "/v1/variables/$_cronium_seg"
}

# cronium_list_variables: prints the user's variable keys, one a line, sorted.
cronium_list_variables() {
  if ((_cronium_native)); then
    cronium_native list-variables
    return
  fi
  _cronium_call cronium_list_variables GET /v1/variables || return
  local list=${_cronium_body#\{\"data\":[} key
  list=${list%]\}}
  list=${list//\"/}
  [[ -n $list ]] || return 0
  local IFS=,
  for key in $list; do printf '%s\n' "$key"; done
}

# cronium_list_tools: prints the tools the user has credentials for, as one JSON array of
# {"tool", "credentials", "actions"}; never a secret. The same operation as Python's
# list_tools(), Node's listTools() and C's cronium_tools_list().
cronium_list_tools() {
  _cronium_call cronium_list_tools GET /v1/tools || return
  local list=${_cronium_body#\{\"data\":\{\"tools\":}
  printf '%s\n' "${list%\}\}}"
}

# cronium_set_condition true|false: sets the condition that picks the next workflow branch.
cronium_set_condition() {
  case ${1-} in
    true | false) ;;
    *)
      # invalid_body: what the API answers for a condition that is not a boolean, and the
      # code every binding gives (docs/bindings.md).
      _cronium_fail cronium_set_condition invalid_body "the condition is true or false (got '${1-}')"
      return
      ;;
  esac
  if ((_cronium_native)); then
    cronium_native set-condition "$1"
    return
  fi
  _cronium_write cronium_set_condition PUT /v1/condition "{\"condition\":$1}"
}

# cronium_get_condition: prints true, false, or null when not set.
cronium_get_condition() {
  if ((_cronium_native)); then
    cronium_native get-condition
    return
  fi
  _cronium_call cronium_get_condition GET /v1/condition || return
  local re='"condition":(true|false|null)'
  if [[ $_cronium_body =~ $re ]]; then
    printf '%s\n' "${BASH_REMATCH[1]}"
  else
    printf 'null\n'
  fi
}

# cronium_get_context [FIELD]: prints the event context (JSON), or one top-level field of
# it: strings without their quotes, other values as JSON. `id`, `name` and `type` also find
# eventId, eventName and eventType. A missing field prints nothing and fails. The same
# operation as Python's get_context() and Node's getContext().
cronium_get_context() { _cronium_context cronium_get_context "$@"; }

# cronium_event [FIELD]: the earlier name of cronium_get_context (old scripts use it).
cronium_event() { _cronium_context cronium_event "$@"; }

# _cronium_context FUNCTION [FIELD]: cronium_get_context, its error lines naming FUNCTION.
_cronium_context() {
  local fn=$1
  shift
  if (($# == 0)); then
    if ((_cronium_native)); then
      cronium_native event
    else
      _cronium_get "$fn" '/v1/context?raw'
    fi
    return
  fi
  if ((_cronium_native)); then
    cronium_native -v _cronium_body event || return
  else
    _cronium_call "$fn" GET '/v1/context?raw' || return
  fi
  local field=$1 value
  if _cronium_json_field "$_cronium_body" "$field"; then
    :
  elif [[ $field == id || $field == name || $field == type ]] &&
    _cronium_json_field "$_cronium_body" "event${field^}"; then
    :
  else
    _cronium_fail "$fn" field_not_found "the event context has no field '$field'"
    return
  fi
  value=$_cronium_value
  if [[ $value == \"*\" ]]; then
    value=${value:1:${#value}-2}
    # The usual JSON escapes; \uXXXX is left as written.
    value=${value//\\\"/\"}
    value=${value//\\\//\/}
    value=${value//\\n/$'\n'}
    value=${value//\\t/$'\t'}
    value=${value//\\\\/\\}
  fi
  printf '%s\n' "$value"
}

# _cronium_json_field JSON FIELD: sets _cronium_value to the JSON text of a top-level field
# of an object (compact JSON as the sidecar sends it). Returns 1 when absent.
_cronium_json_field() {
  local json=$1 want=$2 i=1 n=${#1} c depth key start in_str esc
  [[ ${json:0:1} == '{' ]] || return 1
  while ((i < n)); do
    c=${json:i:1}
    if [[ $c == '}' ]]; then return 1; fi
    if [[ $c == ',' || $c == ' ' ]]; then
      ((i += 1))
      continue
    fi
    # A key: a string up to its closing quote.
    start=$((i + 1))
    i=$((i + 1))
    while ((i < n)); do
      c=${json:i:1}
      if [[ $c == "\\" ]]; then
        ((i += 2))
        continue
      fi
      [[ $c == '"' ]] && break
      ((i += 1))
    done
    key=${json:start:i-start}
    ((i += 1))
    [[ ${json:i:1} == ':' ]] && ((i += 1))
    # The value: scan to the comma or brace that ends it at depth 0.
    start=$i
    depth=0
    in_str=0 esc=0
    while ((i < n)); do
      c=${json:i:1}
      if ((in_str)); then
        if ((esc)); then
          esc=0
        elif [[ $c == "\\" ]]; then
          esc=1
        elif [[ $c == '"' ]]; then
          in_str=0
        fi
      elif [[ $c == '"' ]]; then
        in_str=1
      elif [[ $c == '{' || $c == '[' ]]; then
        ((depth += 1))
      elif [[ $c == '}' || $c == ']' ]]; then
        ((depth == 0)) && break
        ((depth -= 1))
      elif [[ $c == ',' ]] && ((depth == 0)); then
        break
      fi
      ((i += 1))
    done
    if [[ $key == "$want" ]]; then
      _cronium_value=${json:start:i-start}
      return 0
    fi
  done
  return 1
}

# cronium_stream_input: prints the input stream, one NDJSON record a line.
cronium_stream_input() {
  if ((_cronium_native)); then
    cronium_native stream-input
    return
  fi
  _cronium_get cronium_stream_input /v1/input/stream 0
}

# cronium_stream_output: appends the NDJSON records read from stdin to the output stream
# (streamed: stdin may be larger than memory).
cronium_stream_output() {
  if ((_cronium_native)); then
    cronium_native stream-output
    return
  fi
  _cronium_call cronium_stream_output POST /v1/output/stream -
}

# cronium_watch_variable KEY [COUNT]: prints one line per change of the variable (the
# change as JSON: key, value, version, updatedAt, deleted), until COUNT changes (default:
# until the runtime stops). Only changes after the call are seen.
cronium_watch_variable() {
  _cronium_key cronium_watch_variable "${1-}" || return
  local count=${2-0} seen=0 line
  if [[ ! $count =~ ^[0-9]+$ ]]; then
    _cronium_fail cronium_watch_variable invalid_argument "COUNT is a whole number (got '$count')"
    return
  fi
  _cronium_setup || {
    _cronium_report cronium_watch_variable
    return
  }
  while IFS= read -r line; do
    if [[ $line == data:* ]]; then
      line=${line#data:}
      printf '%s\n' "${line# }"
      seen=$((seen + 1))
      if ((count > 0 && seen >= count)); then break; fi
    fi
  done < <(exec curl -sfN "${_cronium_conn[@]}" -H @/dev/fd/3 "$_cronium_base/v1/variables/$_cronium_seg/watch" 3<<<"Authorization: Bearer $_cronium_tok")
  # The watch never ends by itself: stop it once COUNT changes are in.
  kill "$!" 2>/dev/null || :
  if ((count > 0 && seen >= count)); then
    return 0
  fi
  # It ended early: say why (a refused token, a stopped runtime...).
  if _cronium_request cronium_watch_variable GET "/v1/variables/$_cronium_seg" ||
    [[ ${_cronium_code-} == variable_not_found ]]; then
    ((count == 0)) && return 0
    _cronium_fail cronium_watch_variable watch_ended "the watch ended after $seen of $count changes"
    return
  fi
  _cronium_report cronium_watch_variable
}

# cronium_execute_tool_action TOOL ACTION PARAMS_JSON: asks the platform to run a tool
# action (Slack, email, webhook...) with the credentials it holds; prints the result.
cronium_execute_tool_action() {
  local re='^[A-Za-z0-9_.:-]+$'
  if (($# < 3)) || [[ ! $1 =~ $re || ! $2 =~ $re ]]; then
    _cronium_fail cronium_execute_tool_action invalid_argument "usage: cronium_execute_tool_action TOOL ACTION PARAMS_JSON"
    return
  fi
  if ((_cronium_native)); then
    cronium_native execute-tool-action "$1" "$2" "$3"
    return
  fi
  _cronium_call cronium_execute_tool_action POST /v1/tool-actions/execute \
    "{\"tool\":\"$1\",\"action\":\"$2\",\"params\":$3}" || return
  _cronium_unwrap
}

# cronium_info: prints what the helpers will use (never the token) and whether the runtime
# answers.
cronium_info() {
  printf 'execution  %s\n' "${CRONIUM_EXECUTION_ID:-(unset)}"
  if [[ -n ${CRONIUM_RUNTIME_SOCKET-} && -S ${CRONIUM_RUNTIME_SOCKET} ]]; then
    printf 'transport  unix:%s\n' "$CRONIUM_RUNTIME_SOCKET"
  elif [[ -n ${CRONIUM_RUNTIME_API-} ]]; then
    printf 'transport  %s\n' "$CRONIUM_RUNTIME_API"
  else
    printf 'transport  (none)\n'
  fi
  if [[ -n ${CRONIUM_EXECUTION_TOKEN-}${CRONIUM_EXECUTION_TOKEN_FILE-} ]]; then
    printf 'token      set\n'
  else
    printf 'token      (unset)\n'
  fi
  _cronium_setup || {
    _cronium_report cronium_info
    return
  }
  local health
  health=$(curl -sS "${_cronium_conn[@]}" "$_cronium_base/health" 2>&1) || {
    _cronium_fail cronium_info runtime_unreachable "${health//$'\n'/ }"
    return
  }
  printf 'runtime    %s\n' "$health"
}

# The names older Cronium scripts use. Those scripts passed and got plain strings, so
# these keep that: a value that is not JSON-looking is stored as a JSON string, and a string
# value is printed without its quotes.
cronium_getVariable() {
  local v
  v=$(cronium_get_variable "$@") || return
  if [[ $v == \"*\" ]]; then
    v=${v:1:${#v}-2}
    v=${v//\\\"/\"}
    v=${v//\\\\/\\}
  fi
  printf '%s\n' "$v"
}
cronium_setVariable() {
  local v=${2-}
  local re='^(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|true|false|null|[[{"].*)$'
  if [[ ! $v =~ $re ]]; then
    v=${v//\\/\\\\}
    v=${v//\"/\\\"}
    v=${v//$'\n'/\\n}
    v=\"$v\"
  fi
  cronium_set_variable "${1-}" "$v"
}
cronium_setCondition() { cronium_set_condition "$@"; }
cronium_getCondition() { cronium_get_condition "$@"; }

# shellcheck shell=bash
# shellcheck disable=SC2034 # the KIT_* variables are for the script that sources this file
# The test kit for shell harnesses: source this file, then
#
#   kit_start [--env NAME=VALUE]...   starts a sidecar with cronium-testkit (the one launcher)
#                                     and sets KIT_SOCKET, KIT_STATE, KIT_URL, KIT_PORT and
#                                     KIT_SIDECAR_PID (the sidecar's process), and KIT_INFO
#                                     (the kit's whole JSON line: the executions and tokens)
#   kit_stop                          stops it; the kit removes the state dir
#
# CRONIUM (the cronium binary) and CRONIUM_TESTKIT (default: cronium-testkit next to
# CRONIUM) pick the binaries; CRONIUM_TOKEN_SECRET, when set, is the secret the sidecar
# verifies with, so admin commands run with the same variable mint tokens it accepts.

_kit_pid=
_kit_in=

kit_start() {
  local kit=${CRONIUM_TESTKIT:-$(dirname "$CRONIUM")/cronium-testkit} line re
  if [[ ! -x $kit ]]; then
    echo "no test kit at $kit; run cargo build -p cronium-testkit first" >&2
    return 1
  fi
  coproc _KIT { exec "$kit" --cronium "$CRONIUM" "$@"; }
  # shellcheck disable=SC2153 # set by coproc
  _kit_pid=$_KIT_PID
  # Duplicated: bash closes the coprocess's own descriptors when it exits.
  exec {_kit_in}>&"${_KIT[1]}"
  IFS= read -r line <&"${_KIT[0]}" || {
    echo "cronium-testkit failed to start a sidecar (its stderr is above)" >&2
    return 1
  }
  re='"socket":"([^"]*)".*"url":"http://([^"]*):([0-9]+)".*"stateDir":"([^"]*)".*"pid":([0-9]+)'
  [[ $line =~ $re ]] || {
    echo "unexpected answer of cronium-testkit: $line" >&2
    return 1
  }
  KIT_INFO=$line
  KIT_SOCKET=${BASH_REMATCH[1]}
  KIT_URL=http://${BASH_REMATCH[2]}:${BASH_REMATCH[3]}
  KIT_PORT=${BASH_REMATCH[3]}
  KIT_STATE=${BASH_REMATCH[4]}
  KIT_SIDECAR_PID=${BASH_REMATCH[5]}
}

kit_stop() {
  [[ -n $_kit_pid ]] || return 0
  # Closing the kit's stdin (every copy) stops the sidecar and removes the state dir.
  local fd=${_KIT[1]-}
  [[ -z $fd ]] || exec {fd}>&-
  exec {_kit_in}>&-
  wait "$_kit_pid" 2>/dev/null
  _kit_pid=
}

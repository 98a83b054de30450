#!/usr/bin/env bash
# Schemathesis against a real sidecar: the openapi.json it serves, every operation but the
# endless variable watch, every check, bounded by --max-examples; zero failures or the run
# fails. Two passes: the script API with a valid token with every scope, then the admin API
# (a listener of its own, here on loopback TCP) with the admin secret; SCHEMATHESIS_ADMIN=0
# skips the second. Usage (from anywhere):
#
#   CRONIUM=target/debug/cronium tests/schemathesis/run.sh [extra `st run` arguments]
#
# SCHEMATHESIS (default .venv/bin/schemathesis) picks the tool; MAX_EXAMPLES (default 25)
# bounds the cases per operation and phase. The last line says how many cases ran.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${CRONIUM:?set CRONIUM to the cronium binary}"
st=${SCHEMATHESIS:-.venv/bin/schemathesis}
# shellcheck source=tests/kit/kit.sh
. tests/kit/kit.sh
out=$(mktemp -d)
trap 'kit_stop; rm -rf "$out"' EXIT
# No request rate limit: schemathesis sends hundreds of requests a second with one token.
admin_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin_secret=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
(umask 077 && printf '%s\n' "$admin_secret" >"$out/admin.secret")
kit_start --env CRONIUM_RATE_LIMIT=0 \
  --env "CRONIUM_ADMIN_SECRET_FILE=$out/admin.secret" --env "CRONIUM_ADMIN_LISTEN=127.0.0.1:$admin_port" \
  --executions '[{"user":"st","variables":{"greeting":"hello"},"input":{"n":1},"context":{"k":"v"}}]'
token=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["executions"][0]["token"])' "$KIT_INFO")
# The token goes through a header file, never argv (schemathesis reads -H from argv, so a
# config file carries it instead).
cat >"$out/schemathesis.toml" <<TOML


headers = { Authorization = "Bearer $token" }

# Every check (here rather than --checks all, which would override the exception below).
[checks]
enabled = true

# An NDJSON body is text on the wire: a value of another "type" (the negative cases)
# reaches the sidecar as text too, indistinguishable from a valid record.
[[operations]]
include-path = "/v1/output/stream"
checks.negative_data_rejection.enabled = false
TOML
chmod 600 "$out/schemathesis.toml"
# One pass: the config file (headers), the base URL, which paths, the report. Secrets go
# through the 0600 config file, never argv.
pass() {
  local config=$1 url=$2 report=$3
  shift 3
  SCHEMATHESIS_HOOKS=$PWD/tests/schemathesis/hooks.py "$st" --config-file "$config" run "$KIT_URL/openapi.json" \
    --url "$url" \
    --exclude-path-regex '/watch$' \
    --max-examples "${MAX_EXAMPLES:-25}" \
    --request-timeout 10 \
    --workers 1 \
    --no-color \
    --suppress-health-check all \
    --report ndjson --report-ndjson-path "$report" \
    "$@"
}
(umask 077 && cat >"$out/admin.toml" <<TOML
headers = { Authorization = "Bearer $admin_secret" }

[checks]
enabled = true

# Schemathesis finishes executions as it goes; from then on a valid request about one is
# answered 410 execution_finished, which is the documented answer, not a rejected input.
[checks.positive_data_acceptance]
expected-statuses = ["2XX", "401", "403", "404", "409", "410"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "410", "413", "415", "422"]
TOML
)
set +e
# The script API: the admin routes are not served on its listener.
pass "$out/schemathesis.toml" "$KIT_URL" "$out/events.ndjson" --exclude-path-regex '^/admin/' "$@"
rc=$?
rc_admin=0
if [ "${SCHEMATHESIS_ADMIN:-1}" = 1 ]; then
  pass "$out/admin.toml" "http://127.0.0.1:$admin_port" "$out/admin.ndjson" --include-path-regex '^/admin/' "$@"
  rc_admin=$?
fi
set -e
python3 - "$out/events.ndjson" "$out/admin.ndjson" <<'PY'
import json, sys
import os
for name, path in zip(("script API", "admin API"), sys.argv[1:]):
    if not os.path.exists(path):
        continue
    cases = 0
    for line in open(path):
        ev = json.loads(line)
        for k, v in ev.items():
            if isinstance(v, dict) and k.endswith("ScenarioFinished"):
                rec = v.get("recorder") or {}
                cases += len(rec.get("cases") or {})
    print(f"schemathesis: {name}: {cases} cases")
PY
[ "$rc" -eq 0 ] && [ "$rc_admin" -eq 0 ]

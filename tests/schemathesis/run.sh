#!/usr/bin/env bash
# Schemathesis against a real sidecar: the openapi.json it serves, a valid token with every
# scope, every operation but the endless variable watch, every check, bounded by
# --max-examples; zero failures or the run fails. Usage (from anywhere):
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
kit_start --env CRONIUM_RATE_LIMIT=0 \
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
set +e
SCHEMATHESIS_HOOKS=$PWD/tests/schemathesis/hooks.py "$st" --config-file "$out/schemathesis.toml" run "$KIT_URL/openapi.json" \
  --url "$KIT_URL" \
  --exclude-path-regex '/watch$' \
  --max-examples "${MAX_EXAMPLES:-25}" \
  --request-timeout 10 \
  --workers 1 \
  --no-color \
  --suppress-health-check all \
  --report ndjson --report-ndjson-path "$out/events.ndjson" \
  "$@"
rc=$?
set -e
python3 - "$out/events.ndjson" <<'PY'
import json, sys
cases = 0
for line in open(sys.argv[1]):
    ev = json.loads(line)
    for k, v in ev.items():
        if isinstance(v, dict) and k.endswith("ScenarioFinished"):
            rec = v.get("recorder") or {}
            cases += len(rec.get("cases") or {})
print(f"schemathesis: {cases} cases")
PY
exit $rc

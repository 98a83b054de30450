#!/usr/bin/env bash
# docs/operations.md, "The API by hand" and docs/tools.md, "curl": a sidecar, an execution
# and curl calls. tests/docs/run.sh runs this file with `cronium` on PATH and a Slack
# receiver in SLACK_WEBHOOK_URL, and checks what it printed.
set -euo pipefail
# START tour
CR=$(mktemp -d)                                       # a state directory of its own
S=$CR/run/runtime.sock
cronium --state-dir "$CR" serve --socket "$S" &
until [ -S "$S" ]; do sleep 0.05; done               # the socket exists once it accepts

# What the orchestrator does before it starts a script:
eval "$(cronium --state-dir "$CR" executions create --user ada --input '{"n": 2}' --json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print("ID=%s TOKEN=%s" % (d["id"], d["token"]))')"

# What a script's client does:
curl -s --unix-socket "$S" -H "Authorization: Bearer $TOKEN" http://cronium/v1/input; echo          # {"data":{"n":2}}
curl -s --unix-socket "$S" -H "Authorization: Bearer $TOKEN" 'http://cronium/v1/input?raw'; echo    # {"n":2}
curl -s --unix-socket "$S" -H "Authorization: Bearer $TOKEN" -X PUT \
     -H 'Content-Type: application/json' -d '{"value": 1}' http://cronium/v1/variables/runs; echo
curl -s --unix-socket "$S" -H "Authorization: Bearer $TOKEN" -X PUT \
     -H 'Content-Type: application/json' -d '{"data": {"ok": true}}' http://cronium/v1/output; echo

cronium --state-dir "$CR" executions show "$ID"     # input, output, condition, streams, audit
# END tour

echo "{\"webhook_url\": \"$SLACK_WEBHOOK_URL\"}" |
  cronium --state-dir "$CR" tools add --user ada --tool slack --config -
# START curl-tool
curl -s --unix-socket "$S" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
     -H "Idempotency-Key: $(cat /proc/sys/kernel/random/uuid)" \
     -d '{"tool":"slack","action":"send-message","params":{"text":"done"}}' \
     http://cronium/v1/tool-actions/execute; echo
# {"data":{"ok":true,"tool":"slack","action":"send-message","credential":"default","status":200,"body":"ok","truncated":false,"attempts":1}}
# END curl-tool

# START stop
kill %1 && wait                                       # SIGTERM: the sidecar drains and exits
# END stop
rm -rf "$CR"

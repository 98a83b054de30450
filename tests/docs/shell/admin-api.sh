#!/usr/bin/env bash
# docs/admin.md: the admin API with curl, a per-job sidecar, and the CLI through the admin
# API. tests/docs/run.sh runs this file with `cronium` on PATH and checks what it printed.
set -euo pipefail
# START start
CR=$(mktemp -d)                                       # a state directory of its own
S=$CR/run/runtime.sock                                # the script socket
A=$CR/admin/admin.sock                                # the admin socket (the default place)
umask 077
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$CR/admin.secret"   # the admin secret, in a file
CRONIUM_ADMIN_SECRET_FILE=$CR/admin.secret cronium --state-dir "$CR" serve --socket "$S" &
until [ -S "$A" ]; do sleep 0.05; done               # the admin socket exists once it accepts
AUTH="Authorization: Bearer $(cat "$CR/admin.secret")"
# END start

# START create
curl -s --unix-socket "$A" -H "$AUTH" -H 'Content-Type: application/json' \
     -d '{"id": "job-7", "user": "ada", "event": "nightly", "input": {"n": 2}, "lifetime": "2h"}' \
     http://admin/admin/v1/executions; echo
# {"data":{"id":"job-7","token":"eyJ...","expiresAt":...,"created":true,...}}
# END create
TOKEN=$(curl -s --unix-socket "$A" -H "$AUTH" -X POST http://admin/admin/v1/executions/job-7/token |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
curl -s --unix-socket "$S" -H "Authorization: Bearer $TOKEN" -X PUT \
     -H 'Content-Type: application/json' -d '{"data": {"ok": true}}' http://cronium/v1/output; echo

# START inspect
curl -s --unix-socket "$A" -H "$AUTH" http://admin/admin/v1/executions/job-7; echo
curl -s --unix-socket "$A" -H "$AUTH" 'http://admin/admin/v1/executions?status=running&limit=10'; echo
curl -s --unix-socket "$A" -H "$AUTH" -X PUT -H 'Content-Type: application/json' \
     -d '{"value": {"theme": "dark"}}' http://admin/admin/v1/users/ada/variables/settings; echo
curl -s --unix-socket "$A" -H "$AUTH" http://admin/admin/v1/users/ada/variables/settings; echo
# END inspect

# START finish
curl -s --unix-socket "$A" -H "$AUTH" -H 'Content-Type: application/json' \
     -d '{"exitCode": 0}' http://admin/admin/v1/executions/job-7/finish; echo
curl -s --unix-socket "$S" -H "Authorization: Bearer $TOKEN" http://cronium/v1/input; echo
# {"error":{"code":"execution_finished",...}}
# END finish

# START refused
curl -s --unix-socket "$A" -H "Authorization: Bearer $TOKEN" http://admin/admin/v1/executions; echo
# {"error":{"code":"script_token_refused",...}}
curl -s --unix-socket "$S" -H "$AUTH" http://cronium/v1/input; echo
# {"error":{"code":"admin_credential_refused",...}}
# END refused

# START cli
export CRONIUM_ADMIN_SECRET_FILE=$CR/admin.secret
cronium executions show job-7 --admin-socket "$A"      # the same output as on the store
cronium variables get --user ada settings --admin-socket "$A"
# END cli

# START stop
kill %1 && wait
# END stop

# START per-job
cat > "$CR/job-8.json" <<'JSON'
{"id": "job-8", "user": "ada", "event": "report", "input": {"day": "monday"}, "lifetime": "1h"}
JSON
cronium --state-dir "$CR" serve --socket "$S" --execution "$CR/job-8.json" --exit-on-finish &
until [ -S "$A" ]; do sleep 0.05; done
# ... the orchestrator mints a token, starts the script, waits for it ...
cronium executions finish job-8 --exit-code 0 --admin-socket "$A"
wait %1 && echo "the per-job sidecar exited"
# END per-job
rm -rf "$CR"

#!/usr/bin/env bash
# docs/tools.md, "Add a Slack credential (operator)". tests/docs/run.sh runs this file
# with `cronium` on PATH, CR a scratch state directory, KEYS a scratch key directory and
# SLACK_WEBHOOK_URL a local receiver, then checks what it printed and received.
set -euo pipefail
: "${CR:?} ${KEYS:?} ${SLACK_WEBHOOK_URL:?}"
# START operator
# The key that seals credentials. Keep it outside the state directory (KEYS: /etc/cronium,
# a Kubernetes secret); without one, the first `tools add` generates <state-dir>/keys/credentials.key.
(umask 077 && head -c 32 /dev/urandom | base64 > "$KEYS/credentials.key")
export CRONIUM_CREDENTIALS_KEY_FILE=$KEYS/credentials.key     # for serve and the admin commands

# The configuration comes from a file or stdin, never from argv (`ps` would show it).
echo "{\"webhook_url\": \"$SLACK_WEBHOOK_URL\"}" |
  cronium --state-dir "$CR" tools add --user ada --tool slack --config -
cronium --state-dir "$CR" tools list                            # ada  slack  default  https://hooks.slack.com  (updated ...)
cronium --state-dir "$CR" tools test --user ada --tool slack    # connects, checks TLS, sends nothing
cronium --state-dir "$CR" tools test --user ada --tool slack --params '{"text": "hello"}'   # sends
# END operator

#!/usr/bin/env bash
# docs/tools.md, "Send it from a script" (Bash). tests/docs/run.sh runs it under
# `cronium run` with a Slack credential pointing at a local receiver.
set -euo pipefail
# START tools
cronium_execute_tool_action slack send-message '{"text": "deploy done", "channel": "#ops"}'
# END tools

#!/usr/bin/env bash
# The README's Bash example: no `source` line under `cronium run`. tests/docs/run.sh runs
# it and checks the output and the variable it set.
set -euo pipefail
# START short
runs=$(cronium_get_variable runs 0)
cronium_set_variable runs $((runs + 1))
cronium_set_variable last_event "\"$(cronium_get_context name)\""
cronium_set_condition true
cronium_output "{\"status\":\"ok\",\"runs\":$((runs + 1))}"
# END short

#!/usr/bin/env bash
# A Cronium Bash script: no `source` line, the cronium_* helpers are there when it starts.
#   cronium run examples/hello.sh --input '{"name":"Ada"}'
set -euo pipefail

# The input is JSON; this one is {"name": "..."}. Plain Bash pulls the field out (no jq).
input=$(cronium_input)
name=World
re='"name":"([^"]*)"'
if [[ $input =~ $re ]]; then name=${BASH_REMATCH[1]}; fi
echo "Hello, $name!"

# Variables belong to the user and outlive the run: count the greetings.
count=$(cronium_get_variable greetings 0)
count=$((count + 1))
cronium_set_variable greetings "$count"
cronium_set_variable last_name "\"$name\""

# The condition picks the next branch of a workflow.
if ((count > 1)); then cronium_set_condition true; else cronium_set_condition false; fi

cronium_output "{\"greeting\":\"Hello, $name!\",\"count\":$count,\"event\":\"$(cronium_event name)\"}"

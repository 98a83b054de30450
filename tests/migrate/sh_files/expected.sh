#!/bin/bash
# START readme

# Direct reads and writes of the old files.
name=$(cronium_input | jq -r '.name')
event_name=$(cronium_event name)
rows=$(cronium_input | jq '.rows | length')
if [ "$rows" -gt 2 ]; then
  ok=true
else
  ok=false
fi
echo "{\"greeting\": \"Hello, $name\", \"rows\": $rows, \"event\": \"$event_name\"}" | cronium_output
cronium_set_condition "$ok"
# END readme

#!/bin/bash
# START readme
. ./cronium.sh

# Direct reads and writes of the old files.
name=$(jq -r '.name' input.json)
event_name=$(cat event.json | jq -r '.name')
rows=$(jq '.rows | length' < input.json)
if [ "$rows" -gt 2 ]; then
  ok=true
else
  ok=false
fi
echo "{\"greeting\": \"Hello, $name\", \"rows\": $rows, \"event\": \"$event_name\"}" > output.json
echo "{\"condition\": $ok}" > condition.json
# END readme

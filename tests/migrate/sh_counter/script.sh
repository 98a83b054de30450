#!/bin/bash
source ./cronium.sh

# Old variables are strings; cronium_getVariable printed them without quotes.
bump() {
  local n
  n=$(cronium_getVariable "$1")
  n=$(( ${n:-0} + 1 ))
  cronium_setVariable "$1" "$n"
  echo "$n"
}

count=$(bump COUNTER)
for sku in a-1 b-2; do
  cronium_setVariable last_item "$sku"
done
echo "not code: source ./cronium.sh > output.json"
cronium_setCondition true
cronium_output "{\"count\": $count}"

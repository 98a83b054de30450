#!/usr/bin/env bash
# `make help` lists every documented target (`name: ... ## text`), names with digits too
# (lint-k8s), and starts every description in one column whatever the longest name
# (issue 18, item 8: names longer than 12 characters pushed theirs out of line).
set -euo pipefail
cd "$(dirname "$0")/.."
help=$(make --no-print-directory -s help)
fail=0
mapfile -t makefiles < <(find . -name '*.mk' -not -path './target/*' -not -path '*/node_modules/*' | sort)
want=$(grep -hoE '^[a-zA-Z0-9_-]+:.*## ' Makefile "${makefiles[@]}" | cut -d: -f1 | sort -u)
for t in $want; do
  grep -qE "^  make $t " <<<"$help" || { echo "make help does not list $t" >&2; fail=1; }
done
# The column of each description: after "  make NAME" and its padding.
columns=$(awk '{ match($0, /^  make [^ ]+ +/); print RLENGTH }' <<<"$help" | sort -u)
if [ "$(wc -l <<<"$columns")" -ne 1 ]; then
  echo "make help: descriptions start in columns $(tr '\n' ' ' <<<"$columns")instead of one" >&2
  fail=1
fi
exit "$fail"

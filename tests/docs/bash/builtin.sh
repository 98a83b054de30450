#!/usr/bin/env bash
# docs/bash.md, "Forkless builtin". tests/docs/run.sh runs it under `cronium run` with
# CRONIUM_BUILTIN naming the builtin it built (`make c-builtin`), and checks the output.
# shellcheck disable=SC2154 # `cronium -v runs` assigns runs
set -euo pipefail
# START builtin
enable -f "$CRONIUM_BUILTIN" cronium        # make c-builtin builds it: target/release/cronium_builtin.so
cronium -v runs get-variable runs 0         # -v NAME assigns like printf -v (no subshell)
cronium set-variable runs $((runs + 1))
cronium output '{"ok":true}'
cronium set-condition true
cronium input; cronium event; cronium list-variables; cronium get-condition
# END builtin

#!/usr/bin/env bash
# docs/bash.md, "Forkless builtin". tests/docs/run.sh runs it under `cronium run` with
# CRONIUM_BUILTIN naming the builtin it built (`make c-builtin`), and checks the output.
# shellcheck disable=SC2154 # `cronium_native -v runs` assigns runs
set -euo pipefail
# START builtin
enable -f "$CRONIUM_BUILTIN" cronium_native # make c-builtin builds it: target/release/cronium_builtin.so
cronium_native -v runs get-variable runs 0  # -v NAME assigns like printf -v (no subshell)
cronium_native set-variable runs $((runs + 1))
cronium_native output '{"ok":true}'
cronium_native set-condition true
cronium_native input; cronium_native event; cronium_native list-variables; cronium_native get-condition
# END builtin

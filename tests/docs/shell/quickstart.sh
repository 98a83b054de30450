#!/usr/bin/env bash
# The README's quickstart, run from the repository root. tests/docs/run.sh runs this file
# with CRONIUM_STATE_DIR pointing at a scratch directory and checks the summary.
set -euo pipefail
cd "$(dirname "$0")/../../.."
# START quickstart
make build && export PATH=$PWD/target/debug:$PATH
# START run
cronium run examples/hello.sh --input '{"name":"Ada"}'
# END run
# END quickstart

#!/usr/bin/env bash
# The README's quickstart, run from the repository root. tests/docs/run.sh runs this file
# with CRONIUM_STATE_DIR pointing at a scratch directory and none of the binding settings
# (CRONIUM_PYTHON, CRONIUM_NODE_PATH): the cronium of the build tree finds the modules
# `make python` and `make node` built beside it, as a newcomer's shell would. It checks the
# summaries.
set -euo pipefail
cd "$(dirname "$0")/../../.."
# START quickstart
make build && export PATH=$PWD/target/debug:$PATH
# START run
cronium run examples/hello.sh --input '{"name":"Ada"}'
# END run
# END quickstart
# With the modules built (make demo, or make python node), nothing to set:
# START bindings
cronium run examples/hello.py --input '{"name":"Ada"}'
cronium run examples/hello.js --input '{"name":"Ada"}'
# END bindings

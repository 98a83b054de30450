# The Bash helpers' targets; the top-level Makefile includes this file.

.PHONY: test-bash
test-bash: build ## The Bash helpers' suite against a real sidecar, shellcheck included
	@./scripts/ensure-tools.sh test
	CRONIUM=$(BIN) ./bindings/bash/tests/run.sh

BINDING_TESTS += test-bash

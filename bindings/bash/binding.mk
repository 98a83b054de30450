# The Bash helpers' targets; the top-level Makefile includes this file.

# The suite runs twice: on curl (CRONIUM_BUILTIN empty), then with the forkless `cronium_native`
# builtin (bindings/c/builtin, a debug build: quick to build) loaded by cronium.sh, so the
# two paths cannot drift apart.
.PHONY: test-bash
test-bash: build testkit ## The Bash helpers' suite against a real sidecar (on curl, then with the builtin), shellcheck included
	@./scripts/ensure-tools.sh test
	CRONIUM_BUILTIN= CRONIUM=$(BIN) ./bindings/bash/tests/run.sh
	$(MAKE) --no-print-directory c-builtin C_PROFILE=debug
	CRONIUM_BUILTIN=$(CARGO_TARGET_DIR)/debug/cronium_builtin.so CRONIUM=$(BIN) ./bindings/bash/tests/run.sh

BINDING_TESTS += test-bash

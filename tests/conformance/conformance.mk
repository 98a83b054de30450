# The cross-language conformance suite (tests/conformance), included by the root Makefile.
#
#   make test-conformance   every case of cases.json in Rust, Python, Node, C and Bash (curl
#                           and builtin), each against one sidecar started by the test kit
#                           (tests/kit, the one launcher); a pass/fail/skip count per language

TESTKIT := $(CARGO_TARGET_DIR)/debug/cronium-testkit

.PHONY: testkit
testkit: ## Build the test kit (cronium-testkit) and the cronium binary it launches
	$(CARGO) build -p cronium-cli --bin cronium -p cronium-testkit --bin cronium-testkit

.PHONY: test-conformance
test-conformance: testkit python node ## The conformance cases in every language against a real sidecar
	@./scripts/ensure-tools.sh test
	@# The C library and the Bash builtin, debug builds (quick to build).
	$(MAKE) --no-print-directory c-builtin C_PROFILE=debug
	CRONIUM_BIN=$(BIN) CRONIUM_TESTKIT=$(TESTKIT) C_LIB_DIR=$(CARGO_TARGET_DIR)/debug \
		./tests/conformance/run.sh

BINDING_TESTS += test-conformance

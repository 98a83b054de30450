# Docs that are tested; the root Makefile includes this file.
#
#   make test-docs   every code example of README.md and docs/ run for real (tests/docs/run.sh)
#   make lint-docs   the snippet check alone (scripts/check-doc-snippets.py; `make lint` runs it)
#
# The examples live in tests/docs/ between START/END markers; the Markdown shows those
# regions, and the check fails when a block and its region differ (`--fix` rewrites the
# Markdown), when a runnable block is neither a snippet nor marked not-tested, or when a
# relative link is dead.

.PHONY: lint-docs
lint-docs: ## The docs' snippets equal their tested sources; relative links resolve
	python3 scripts/check-doc-snippets.py

# `make lint` runs the snippet check too (a prerequisite added here, recipe in Makefile).
lint: lint-docs

.PHONY: test-docs
test-docs: build python node lint-docs ## Every code example of README.md and docs/ run for real (tests/docs)
	@./scripts/ensure-tools.sh test
	$(CARGO) build -p cronium-client --example docs_basics
	$(MAKE) --no-print-directory c-builtin C_PROFILE=debug
	CRONIUM=$(BIN) TSC=$(CURDIR)/$(NODE_BIN)/tsc NODE_TYPES=$(CURDIR)/$(NODE_DIR)/node_modules/@types \
		DOCS_RUST_EXAMPLE=$(CARGO_TARGET_DIR)/debug/examples/docs_basics \
		CRONIUM_BUILTIN=$(CARGO_TARGET_DIR)/debug/cronium_builtin.so \
		./tests/docs/run.sh

BINDING_TESTS += test-docs

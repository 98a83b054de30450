# The same targets a person runs and CI runs. `make help` lists them.
# Every target installs what it needs (scripts/ensure-tools.sh), so a fresh machine needs
# only Rust, Python, Node, gcc, curl and git.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
# One target directory for the whole workspace: every artefact is built once.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
CARGO ?= cargo
BIN := $(CARGO_TARGET_DIR)/debug/cronium
RELEASE_BIN := $(CARGO_TARGET_DIR)/release/cronium

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@# One column for the descriptions, as wide as the longest target name.
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} \
		{ name[NR] = $$1; text[NR] = $$2; if (length($$1) > w) w = length($$1) } \
		END { for (i = 1; i <= NR; i++) printf("  make %-" w "s  %s\n", name[i], text[i]) }'

.PHONY: build
build: ## Build the cronium binary (debug)
	$(CARGO) build -p cronium-cli --bin cronium

.PHONY: release
release: ## Build the cronium binary (release)
	$(CARGO) build --release -p cronium-cli --bin cronium

.PHONY: demo
demo: build python node ## The main job: cronium run on examples/ in every language available, with summaries
	@./scripts/ensure-tools.sh demo || echo "(the demo skips what is missing)"
	CRONIUM=$(BIN) ./examples/demo.sh

.PHONY: demo-api
demo-api: build ## The HTTP API underneath: a sidecar, an execution and curl calls, step by step
	CRONIUM=$(BIN) ./examples/api-tour.sh

# Each binding adds its own targets in bindings/<name>/binding.mk and appends its test
# target to BINDING_TESTS, so `make test` runs every language without this file knowing them.
BINDING_TESTS :=
include $(sort $(wildcard bindings/*/binding.mk))
include tests/conformance/conformance.mk
include tests/docs/docs.mk
include tests/schemathesis/schemathesis.mk
include tests/migrate/migrate.mk
include images/images.mk
include images/k8s/k8s.mk
# make install/uninstall and the wheels of every Linux (packaging/).
include packaging/install.mk
include packaging/wheels.mk
include fuzz/fuzz.mk

.PHONY: test
test: test-rust $(BINDING_TESTS) test-schemathesis ## Run every test: Rust unit + integration, every binding's suite, schemathesis

# The container tests among the integration tests need the images (built once per run).
.PHONY: test-rust
test-rust: images ## Rust unit and integration tests against a real sidecar (and the images), and doc tests
	@./scripts/ensure-tools.sh test
	$(CARGO) build --workspace --all-targets
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
	$(CARGO) test --workspace --doc

.PHONY: lint
lint: ## Lints: clippy (deny warnings), rustfmt, OpenAPI document validity, the docs against the protocol crate
	$(CARGO) fmt --all -- --check
	./scripts/check-make-help.sh
	./scripts/check-fuzz-lock.py
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@# openapi.json and docs/API.md list every route, error code and scope of the protocol
	@# crate, and nothing else (also part of `make test`).
	$(CARGO) test -p cronium-protocol --test contract
	python3 -c 'import json,sys; d=json.load(open("server/openapi.json")); sys.exit(0 if d.get("openapi","").startswith("3.1") else "openapi.json is not OpenAPI 3.1")'

.PHONY: bench-build
# The sidecar under test is the release binary `make release` ships, built on its own:
# built together with the bench crate, cargo would unify the store's `conformance` feature
# (the bench's throwaway PostgreSQL) into it, and the images' binary would be built twice.
bench-build: release
	$(CARGO) build --release -p cronium-bench --bins

.PHONY: bench
bench: python bench-build ## Benchmarks: every figure as a ratio to a baseline measured in the same run (~11 min)
	@# Optional clients (Node addon, C library and builtin): built when their targets exist;
	@# when one is missing or fails, its rows say "skipped" and the run goes on.
	@for t in $(if $(wildcard bindings/node/binding.mk),node) $(if $(wildcard bindings/c/binding.mk),c-bench); do \
		$(MAKE) --no-print-directory $$t || echo "bench: 'make $$t' failed; its rows will say skipped" >&2; \
	done
	$(CARGO_TARGET_DIR)/release/cronium-bench --cronium $(RELEASE_BIN) --out $(CARGO_TARGET_DIR)/bench/latest.json

# `make bench` writes under target/ only; the chart docs/performance.md shows is tracked and
# changes only on purpose.
.PHONY: bench-publish
bench-publish: ## Copy the last `make bench` chart over bench/results/latency.svg (the one the docs show)
	cp $(CARGO_TARGET_DIR)/bench/latency.svg bench/results/latency.svg

.PHONY: bench-quick
bench-quick: python bench-build ## The benchmarks once, briefly (CI runs this so the harness cannot rot)
	@for t in $(if $(wildcard bindings/node/binding.mk),node) $(if $(wildcard bindings/c/binding.mk),c-bench); do \
		$(MAKE) --no-print-directory $$t || echo "bench-quick: 'make $$t' failed; its rows will say skipped" >&2; \
	done
	$(CARGO_TARGET_DIR)/release/cronium-bench --cronium $(RELEASE_BIN) --quick --out $(CARGO_TARGET_DIR)/bench/quick.json

# Instruction counts per request (callgrind): the figures that do not move with the
# machine's load. The baseline is per machine kind (docs/performance.md). The build is
# bench-quick's, so after it nothing is rebuilt.
.PHONY: bench-check bench-baseline
bench-check: bench-build ## Instruction counts per request (callgrind) vs bench/baseline/instructions.json; fails on > 10% growth
	@./scripts/ensure-tools.sh bench
	$(CARGO_TARGET_DIR)/release/cronium-bench --instructions check bench/baseline/instructions.json --cronium $(RELEASE_BIN)
	$(CARGO_TARGET_DIR)/release/cronium-bench --symbol-order check cli/symbol-order.txt --cronium $(RELEASE_BIN)

bench-baseline: bench-build ## Rewrite bench/baseline/instructions.json with this machine's instruction counts
	@./scripts/ensure-tools.sh bench
	$(CARGO_TARGET_DIR)/release/cronium-bench --instructions baseline bench/baseline/instructions.json --cronium $(RELEASE_BIN)

# The release binary's code layout (cli/build.rs): the functions a profiled sidecar ran,
# placed first. Relinked afterwards, so the binary follows the new file.
.PHONY: symbol-order
symbol-order: bench-build ## Rewrite cli/symbol-order.txt from a callgrind profile of the sidecar, then relink
	@./scripts/ensure-tools.sh bench
	$(CARGO_TARGET_DIR)/release/cronium-bench --symbol-order write cli/symbol-order.txt --cronium $(RELEASE_BIN)
	$(MAKE) --no-print-directory release

# Not part of `make test`: minutes of load on loopback. The open-file limit is raised for
# the 10,000 connections (the sidecar inherits it).
.PHONY: soak
soak: bench-build ## Load and abuse: 10,000 keep-alive connections, slowloris, storage full (release, ~3 min)
	ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -Hn)"; \
		$(CARGO_TARGET_DIR)/release/cronium-soak --cronium $(RELEASE_BIN)

.PHONY: clean
clean: ## Remove build output
	$(CARGO) clean

# Fuzzing (cargo-fuzz, libFuzzer): fuzz/ is a workspace of its own, built with sanitizers
# and nightly flags (RUSTC_BOOTSTRAP=1 on the stable toolchain) into target/fuzz, so CI
# keeps one target directory. docs/fuzzing.md lists the targets and the executions run.

FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 8
# FUZZ_RUNS=N: stop each target after N executions too (`make fuzz FUZZ_RUNS=10000000
# FUZZ_SECONDS=86400` is the issue's goal of ten million per target).
export FUZZ_RUNS
FUZZ_DIR := $(CARGO_TARGET_DIR)/fuzz

.PHONY: fuzz-build
fuzz-build:
	@./scripts/ensure-tools.sh fuzz
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build --target-dir $(FUZZ_DIR)

.PHONY: fuzz
fuzz: fuzz-build ## Every fuzz target for FUZZ_SECONDS (default 300) each; prints executions and crashes
	FUZZ_DIR=$(FUZZ_DIR) fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

.PHONY: fuzz-smoke
fuzz-smoke: fuzz-build ## Every fuzz target briefly (FUZZ_SMOKE_SECONDS, 8) on the corpus kept in the repo (CI)
	FUZZ_DIR=$(FUZZ_DIR) fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

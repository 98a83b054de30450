# Wheels and Node addons for every Linux users run, built on this machine with zig as the
# linker (no container): glibc 2.17 for the manylinux2014 / linux-x64-gnu builds (Ubuntu
# 20.04, RHEL/CentOS 7 and 8, Amazon Linux 2 and newer), musl for Alpine. Not part of
# `make test` (release builds of the whole extension: minutes each); `make wheels-check`
# is the quick check of what was built.
#
#   make wheels          both Python wheels and both Node addons, each checked
#   make wheel-manylinux the manylinux2014 (glibc 2.17) x86_64 wheel, its tag checked by
#                        auditwheel, installed into a fresh venv and run under cronium run
#   make wheel-musllinux the musllinux_1_2 x86_64 wheel (needs the Rust std of
#                        x86_64-unknown-linux-musl: rustup target add x86_64-unknown-linux-musl)
#   make wheel-manylinux-arm  the manylinux2014 aarch64 wheel, cross-built, tag checked (not
#                        run: no aarch64 host; rustup target add aarch64-unknown-linux-gnu)
#   make node-addons     cronium.linux-x64-gnu.node (glibc 2.17) and cronium.linux-x64-musl.node,
#                        with napi's platform packages (npm/linux-x64-gnu, npm/linux-x64-musl)
#
# Output: $(DIST_DIR). Only x86_64 builds are installed and run here.

DIST_DIR := $(CARGO_TARGET_DIR)/wheels/dist
NODE_DIST_DIR := $(CARGO_TARGET_DIR)/wheels/node
# Marks that .venv has zig, auditwheel and cargo-zigbuild (reinstalled when the list changes).
WHEEL_TOOLS := $(PY_VENV)/.cronium-wheel-tools
# zig, cargo-zigbuild and auditwheel from .venv.
WHEEL_PATH := $(PY_VENV)/bin:$(PATH)

$(WHEEL_TOOLS): $(PY_DIR)/requirements-wheels.txt $(PY_TOOLS)
	./scripts/ensure-tools.sh wheels
	touch $@

define musl_std_check
	@rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl || { \
		echo "the Rust std for x86_64-unknown-linux-musl is missing: rustup target add x86_64-unknown-linux-musl" >&2; exit 2; }
endef

.PHONY: wheels
wheels: wheel-manylinux wheel-musllinux wheel-manylinux-arm node-addons ## Python wheels (manylinux2014 x86_64 and aarch64, musllinux_1_2) and Node addons (gnu glibc 2.17, musl)
	@ls -1 $(DIST_DIR) $(NODE_DIST_DIR)

.PHONY: wheel-manylinux
wheel-manylinux: $(WHEEL_TOOLS) build ## The manylinux2014 (glibc 2.17) x86_64 wheel: built with zig, tag checked, test-installed
	rm -f $(DIST_DIR)/cronium-*manylinux*_x86_64.whl
	cd $(PY_DIR) && PATH=$(WHEEL_PATH) maturin build --release --zig --compatibility manylinux2014 \
		--target x86_64-unknown-linux-gnu --out $(DIST_DIR)
	PATH=$(WHEEL_PATH) CRONIUM=$(BIN) ./packaging/check-wheel.sh $(DIST_DIR)/cronium-*manylinux*_x86_64.whl manylinux_2_17_x86_64

# Cross-built: its tag and symbol versions are checked, it is not run (no aarch64 host).
.PHONY: wheel-manylinux-arm
wheel-manylinux-arm: $(WHEEL_TOOLS) ## The manylinux2014 (glibc 2.17) aarch64 wheel: cross-built with zig, tag checked
	@rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu || { \
		echo "the Rust std for aarch64-unknown-linux-gnu is missing: rustup target add aarch64-unknown-linux-gnu" >&2; exit 2; }
	rm -f $(DIST_DIR)/cronium-*manylinux*_aarch64.whl
	cd $(PY_DIR) && PATH=$(WHEEL_PATH) maturin build --release --zig --compatibility manylinux2014 \
		--target aarch64-unknown-linux-gnu --out $(DIST_DIR)
	PATH=$(WHEEL_PATH) ./packaging/check-wheel.sh $(DIST_DIR)/cronium-*manylinux*_aarch64.whl manylinux_2_17_aarch64

.PHONY: wheel-musllinux
wheel-musllinux: $(WHEEL_TOOLS) ## The musllinux_1_2 x86_64 wheel: built with zig, tag checked
	$(musl_std_check)
	rm -f $(DIST_DIR)/cronium-*musllinux*.whl
	cd $(PY_DIR) && PATH=$(WHEEL_PATH) maturin build --release --zig --compatibility musllinux_1_2 \
		--target x86_64-unknown-linux-musl --out $(DIST_DIR)
	PATH=$(WHEEL_PATH) ./packaging/check-wheel.sh $(DIST_DIR)/cronium-*musllinux*.whl musllinux_1_2_x86_64

# cargo-zigbuild reads the glibc floor from the target's suffix (.2.17). The platform
# packages are napi's layout: npm/<platform>/package.json naming the one .node file in it.
.PHONY: node-addons
node-addons: $(WHEEL_TOOLS) $(NODE_DIR)/node_modules/.package-lock.json ## The Node addons for linux-x64-gnu (glibc 2.17) and linux-x64-musl, as napi platform packages
	$(musl_std_check)
	PATH=$(WHEEL_PATH) $(CARGO) zigbuild --release -p cronium-node --target x86_64-unknown-linux-gnu.2.17
	@# musl links the C runtime statically by default, which rules out a shared library.
	PATH=$(WHEEL_PATH) CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=-crt-static" \
		$(CARGO) zigbuild --release -p cronium-node --target x86_64-unknown-linux-musl
	./packaging/node-platform-packages.sh $(NODE_DIST_DIR) \
		linux-x64-gnu=$(CARGO_TARGET_DIR)/x86_64-unknown-linux-gnu/release/libcronium_node.so \
		linux-x64-musl=$(CARGO_TARGET_DIR)/x86_64-unknown-linux-musl/release/libcronium_node.so
	CRONIUM=$(BIN) ./packaging/check-node-addons.sh $(NODE_DIST_DIR)

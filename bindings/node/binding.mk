# The Node.js package `cronium` (bindings/node), included by the root Makefile.
#
#   make node        dev tools from npm (locked), the release addon, the package on CRONIUM_NODE_PATH
#   make test-node   native.d.ts check, node --test against a real sidecar, tsc --strict on the typed examples
#   make node-dts    regenerate the committed native.d.ts after a change of the addon's exports
#
# Needs only Node >= 20.6 with npm, and cargo: every other tool is installed locally from
# bindings/node/package-lock.json.

NODE_DIR := bindings/node
NODE_BIN := $(NODE_DIR)/node_modules/.bin
# The addon for this machine, where index.js looks for it.
NODE_ADDON_OUT := $(CARGO_TARGET_DIR)/node-addon
# A directory holding a `cronium` package (a link to bindings/node): `cronium run` puts it on
# NODE_PATH and preloads its register.js, so scripts it runs can require/import `cronium`
# and old scripts get the global `cronium`.
export CRONIUM_NODE_PATH := $(CARGO_TARGET_DIR)/node_modules

# npm ci only when the lock file changed since the last install.
$(NODE_DIR)/node_modules/.package-lock.json: $(NODE_DIR)/package-lock.json $(NODE_DIR)/package.json
	@command -v node >/dev/null || { echo "node is missing: install Node.js 20 or newer" >&2; exit 2; }
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: node
node: $(NODE_DIR)/node_modules/.package-lock.json ## Build the Node addon (release) and put the `cronium` package on CRONIUM_NODE_PATH
	@# napi builds into the shared target dir and writes the addon and the generated
	@# declarations of its native half to a staging dir; the addon is then renamed into
	@# place (atomic: a running process keeps the file it loaded).
	cd $(NODE_DIR) && node_modules/.bin/napi build --platform --release --no-js \
		--output-dir $(NODE_ADDON_OUT) --dts native.d.ts
	for f in $(NODE_ADDON_OUT)/cronium.*.node; do mv -f "$$f" $(NODE_DIR)/; done
	mkdir -p $(CRONIUM_NODE_PATH)
	ln -sfn $(CURDIR)/$(NODE_DIR) $(CRONIUM_NODE_PATH)/cronium

# native.d.ts (the declarations napi generates for the addon) is committed, like
# cronium.h: a change of the addon's exports must show up in review, never be recopied
# silently by a build.
.PHONY: node-dts
node-dts: node ## Regenerate bindings/node/native.d.ts from the addon
	cp $(NODE_ADDON_OUT)/native.d.ts $(NODE_DIR)/native.d.ts

.PHONY: node-dts-check
node-dts-check: node ## Fail when the committed native.d.ts differs from what napi generates
	git diff --no-index --exit-code -- $(NODE_DIR)/native.d.ts $(NODE_ADDON_OUT)/native.d.ts || \
		{ echo "native.d.ts is stale: run make node-dts and commit it" >&2; exit 1; }

.PHONY: test-node
test-node: node node-dts-check testkit ## native.d.ts check, Node package tests against a real sidecar (node --test), tsc --strict on the typed examples
	$(CARGO) build -p cronium-cli --bin cronium
	cd $(NODE_DIR) && CRONIUM_BIN=$(BIN) node --test --test-concurrency=1 tests/*.test.js tests/*.test.mjs
	cd $(NODE_DIR) && node_modules/.bin/tsc -p tests/types --noEmit --strict

BINDING_TESTS += test-node

# `make install` / `make uninstall`: cronium as a tool on this machine, under PREFIX
# (default /usr/local; DESTDIR is prepended to every path for staged installs).
#
#   PREFIX/bin/cronium                         the binary
#   PREFIX/lib/cronium/python/cronium/         the Python module cronium run gives .py scripts
#   PREFIX/lib/cronium/node_modules/cronium/   the Node package it gives .js scripts
#   PREFIX/lib/cronium/bash/cronium.sh         the Bash helpers, for scripts started elsewhere
#                                              (cronium run carries its own copy)
#   PREFIX/lib/bash/cronium_builtin.so         the forkless Bash builtin (when bash-builtins'
#                                              headers are there), beside libcronium
#   PREFIX/lib/libcronium.{so,a}, PREFIX/include/cronium.h, PREFIX/lib/pkgconfig/cronium.pc
#   PREFIX/share/man/man1/cronium*.1           man pages, from the parser (cronium manpages)
#   PREFIX/share/{bash-completion/completions,zsh/site-functions,fish/vendor_completions.d}
#
# runner/src/lang.rs (bindings_near) looks for the bindings in exactly this layout, so the
# installed cronium needs no environment variable. INSTALL_PROFILE=debug installs debug
# builds of the binary and the C library (quicker to build; the install test uses it).

INSTALL_PROFILE ?= release
INSTALL_ROOT = $(DESTDIR)$(PREFIX)
INSTALL_BIN_SRC = $(CARGO_TARGET_DIR)/$(INSTALL_PROFILE)/cronium
# The man pages and completions are written by the binary being installed.
INSTALL_MAN1 = $(INSTALL_ROOT)/share/man/man1
INSTALL_BASH_COMPLETION = $(INSTALL_ROOT)/share/bash-completion/completions/cronium
INSTALL_ZSH_COMPLETION = $(INSTALL_ROOT)/share/zsh/site-functions/_cronium
INSTALL_FISH_COMPLETION = $(INSTALL_ROOT)/share/fish/vendor_completions.d/cronium.fish

.PHONY: install
install: install-bin install-python install-node install-bash ## Install cronium, its bindings, libcronium, man pages, completions (PREFIX=/usr/local, DESTDIR)
	$(MAKE) --no-print-directory install-c C_PROFILE=$(INSTALL_PROFILE)
	@echo "installed under $(INSTALL_ROOT); remove with: make uninstall PREFIX=$(PREFIX)"

.PHONY: install-bin
install-bin: ## Install the cronium binary, its man pages and shell completions under PREFIX
	$(CARGO) build -p cronium-cli --bin cronium $(if $(filter release,$(INSTALL_PROFILE)),--release)
	install -d $(INSTALL_ROOT)/bin $(INSTALL_MAN1) $(dir $(INSTALL_BASH_COMPLETION)) \
		$(dir $(INSTALL_ZSH_COMPLETION)) $(dir $(INSTALL_FISH_COMPLETION))
	install -m 0755 $(INSTALL_BIN_SRC) $(INSTALL_ROOT)/bin/cronium
	$(INSTALL_BIN_SRC) manpages $(INSTALL_MAN1)
	$(INSTALL_BIN_SRC) completions bash > $(INSTALL_BASH_COMPLETION)
	$(INSTALL_BIN_SRC) completions zsh > $(INSTALL_ZSH_COMPLETION)
	$(INSTALL_BIN_SRC) completions fish > $(INSTALL_FISH_COMPLETION)

# The wheel's content, unpacked by pip into a directory of its own (not into any Python's
# site-packages): cronium run puts it on PYTHONPATH. abi3, so any CPython >= 3.9 imports it.
.PHONY: install-python
install-python: python ## Install the Python module into PREFIX/lib/cronium/python
	rm -rf $(INSTALL_ROOT)/lib/cronium/python
	$(PY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-compile --target $(INSTALL_ROOT)/lib/cronium/python $(PY_WHEELS)/cronium-*.whl

# The files package.json publishes (its "files" list), so the install is what npm would ship.
.PHONY: install-node
install-node: node ## Install the Node package into PREFIX/lib/cronium/node_modules/cronium
	rm -rf $(INSTALL_ROOT)/lib/cronium/node_modules/cronium
	install -d $(INSTALL_ROOT)/lib/cronium/node_modules/cronium
	cd $(NODE_DIR) && install -m 0644 package.json \
		$$(node -p "require('./package.json').files.join(' ')") \
		$(INSTALL_ROOT)/lib/cronium/node_modules/cronium/

# The builtin needs bash-builtins' headers; without them the helpers fall back to curl.
.PHONY: install-bash
install-bash: ## Install the Bash helpers (and build the builtin when bash-builtins is installed)
	install -d $(INSTALL_ROOT)/lib/cronium/bash
	install -m 0644 bindings/bash/cronium.sh $(INSTALL_ROOT)/lib/cronium/bash/cronium.sh
	@if [ -f /usr/include/bash/builtins.h ]; then \
		$(MAKE) --no-print-directory c-builtin C_PROFILE=$(INSTALL_PROFILE); \
	else \
		echo "note: bash-builtins headers missing: the Bash builtin is not installed (the helpers use curl)"; \
	fi

.PHONY: uninstall
uninstall: ## Remove what make install put under PREFIX (same PREFIX and DESTDIR)
	rm -f $(INSTALL_ROOT)/bin/cronium $(INSTALL_MAN1)/cronium.1 $(INSTALL_MAN1)/cronium-*.1 \
		$(INSTALL_BASH_COMPLETION) $(INSTALL_ZSH_COMPLETION) $(INSTALL_FISH_COMPLETION) \
		$(INSTALL_ROOT)/lib/libcronium.so $(INSTALL_ROOT)/lib/libcronium.a \
		$(INSTALL_ROOT)/include/cronium.h $(INSTALL_ROOT)/lib/pkgconfig/cronium.pc \
		$(INSTALL_ROOT)/lib/bash/cronium_builtin.so
	rm -rf $(INSTALL_ROOT)/lib/cronium

.PHONY: test-install
test-install: ## make install into a temp PREFIX, then Python, Node, Bash and C against the installed files only
	./packaging/test-install.sh

BINDING_TESTS += test-install

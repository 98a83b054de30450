# The Python module `cronium` (bindings/python): an abi3 wheel built by maturin into the
# shared target directory, installed into the virtualenv .venv at the repository root,
# and its checks: pytest against a real sidecar, mypy.stubtest of the native stubs, and
# mypy --strict of the package and a typed example.

PY_DIR := bindings/python
PY_VENV := $(CURDIR)/.venv
PY_WHEELS := $(CARGO_TARGET_DIR)/wheels/python
# Marks that .venv has the tools of requirements-dev.txt (reinstalled when it changes).
PY_TOOLS := $(PY_VENV)/.cronium-dev-tools

# The interpreter scripts run with: `cronium run` uses $CRONIUM_PYTHON for .py files, so
# the installed module is importable. Targets that run Python scripts depend on `python`.
CRONIUM_PYTHON := $(PY_VENV)/bin/python
export CRONIUM_PYTHON

$(PY_TOOLS): $(PY_DIR)/requirements-dev.txt
	test -x $(PY_VENV)/bin/python || python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

.PHONY: python
python: $(PY_TOOLS) ## Build the Python module (release wheel) and install it into .venv
	rm -f $(PY_WHEELS)/cronium-*.whl
	cd $(PY_DIR) && $(PY_VENV)/bin/maturin build --release --out $(PY_WHEELS)
	$(PY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		--force-reinstall --no-deps $(PY_WHEELS)/cronium-*.whl

.PHONY: test-python
test-python: python testkit ## Python module: pytest against a real sidecar, stubtest, mypy --strict
	$(CARGO) build -p cronium-cli --bin cronium
	cd $(PY_DIR) && CRONIUM_BIN=$(BIN) $(CRONIUM_PYTHON) -m pytest
	cd $(PY_DIR) && $(CRONIUM_PYTHON) -m mypy.stubtest cronium._native
	cd $(PY_DIR) && $(CRONIUM_PYTHON) -m mypy --strict python/cronium tests/typed_example.py

BINDING_TESTS += test-python

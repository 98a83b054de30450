# Schemathesis against the openapi.json a real sidecar serves (tests/schemathesis/run.sh):
# every operation but the endless watch, all checks, a valid token, bounded by
# --max-examples (a few minutes). Installed into the repository's .venv by ensure-tools.sh.

.PHONY: test-schemathesis
test-schemathesis: testkit ## Schemathesis against a real sidecar's served openapi.json (zero failures)
	@./scripts/ensure-tools.sh schemathesis
	CRONIUM=$(BIN) SCHEMATHESIS=$(CURDIR)/.venv/bin/schemathesis tests/schemathesis/run.sh

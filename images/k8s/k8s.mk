# The Kubernetes manifests of images/k8s (docs/kubernetes.md); the root Makefile includes
# this file.
#
#   make lint-k8s   every manifest against Kubernetes' schemas, offline, in strict mode
#                   (an unknown field fails), for the oldest version the manifests need
#                   (1.30: native sidecars on by default) and the newest the tool knows.

K8S_MANIFESTS := $(sort $(wildcard images/k8s/*.yaml images/k8s/*/*.yaml))
K8S_VERSIONS := 1.30.0 1.37.0

.PHONY: lint-k8s
lint-k8s: ## The Kubernetes manifests against Kubernetes' schemas, strict and offline
	@./scripts/ensure-tools.sh k8s
	@for v in $(K8S_VERSIONS); do \
		.venv/bin/kubernetes-validate --strict --quiet -k $$v $(K8S_MANIFESTS) || exit 1; \
	done
	@echo "lint-k8s: $(words $(K8S_MANIFESTS)) files valid for Kubernetes $(K8S_VERSIONS)"

# `make lint` runs it too (a prerequisite added here, recipe in Makefile).
lint: lint-k8s

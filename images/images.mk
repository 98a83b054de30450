# The container images of images/ (sidecar, python, node, bash); the root Makefile includes
# this file.
#
#   make images            build them on a local Debian base (debootstrap, no registry
#                          needed) and print their sizes; IMAGES_BASE=official builds on the
#                          official slim images instead (needs a registry)
#   make test-containers   the container tests (cli/tests/it/containers.rs) on the images
#
# The artefacts in the images are the release builds: the cronium binary, the Python
# wheel, the Node addon and the Bash builtin (with libcronium).

.PHONY: images
images: release python node ## Build the container images (sidecar, python, node, bash) and print their sizes
	@./scripts/ensure-docker.sh
	$(MAKE) --no-print-directory c-builtin C_PROFILE=release
	CRONIUM_BIN=$(RELEASE_BIN) C_LIB_DIR=$(CARGO_TARGET_DIR)/release ./scripts/build-images.sh

.PHONY: test-containers
test-containers: images build testkit ## The container tests: scripts in the images, the sidecar image, compose
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run -p cronium-cli --no-fail-fast -E 'test(/^containers::/)'; \
	else \
		$(CARGO) test -p cronium-cli --test it --no-fail-fast containers::; \
	fi

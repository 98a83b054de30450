# `cronium migrate` on the corpus of old-style scripts (tests/migrate), included by the root
# Makefile.
#
#   make test-migrate   every corpus script migrated, then run under `cronium run` with the
#                       built Python and Node modules (a missing one fails instead of
#                       skipping, as it may in test-rust), and the database mode on SQLite
#                       and PostgreSQL

.PHONY: test-migrate
test-migrate: python node ## cronium migrate: the corpus migrated and run in every language, SQLite and PostgreSQL
	@./scripts/ensure-tools.sh test
	CRONIUM_MIGRATE_ALL=1 $(CARGO) test -p cronium-cli --test it -- migrate::
	$(CARGO) test -p cronium-migrate

BINDING_TESTS += test-migrate

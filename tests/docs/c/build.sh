#!/usr/bin/env bash
# docs/c.md, "Build and link": run in the application's directory (tests/docs/run.sh runs
# it in a scratch directory holding app.c, a copy of basics.c, with HOME pointing at a
# scratch directory). `make` runs in the repository, as it would for a person who typed
# the command there.
# shellcheck disable=SC2046 # pkg-config prints several words, split on purpose
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
make() { command make --no-print-directory -C "$root" "$@"; }
# START build
make install-c PREFIX="$HOME/.local"      # release build: lib/, include/cronium.h, lib/pkgconfig/cronium.pc
export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig"
gcc app.c $(pkg-config --cflags --libs cronium) -Wl,-rpath,"$HOME/.local/lib" -o app
# END build

#!/usr/bin/env bash
# Installs what a target needs and a fresh machine lacks. Idempotent and quiet when
# everything is there. Usage: ensure-tools.sh test|demo|bench|containers|k8s|wheels|schemathesis|fuzz
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }

# Schemathesis (PyPI), pinned, into the repository's .venv (the one `make python` uses).
SCHEMATHESIS_VERSION=4.32.5
if [ "${1:-test}" = schemathesis ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  [ -x "$root/.venv/bin/python" ] || python3 -m venv "$root/.venv"
  if [ "$("$root/.venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
    echo "installing: schemathesis $SCHEMATHESIS_VERSION into .venv" >&2
    "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  exit 0
fi

case "${1:-test}" in
  test|demo|bench)
    have curl || need_apt+=(curl)
    # `cronium migrate`'s tests apply its dry-run diffs with patch.
    have patch || need_apt+=(patch)
    ;;
esac
# `cronium run --isolate` (bubblewrap) and `--ssh` (a real sshd on loopback) are tested for
# real, and the Bash helpers are linted; the demo shows --isolate.
case "${1:-test}" in
  test)
    have bwrap || need_apt+=(bubblewrap)
    # The PostgreSQL store's tests start a real server (initdb + pg_ctl) in a temp dir.
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || have initdb || need_apt+=(postgresql)
    [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
    have ssh || need_apt+=(openssh-client)
    have shellcheck || need_apt+=(shellcheck)
    # The C library's tests: leak checks, the installed cronium.pc, the Bash builtin's headers.
    have valgrind || need_apt+=(valgrind)
    have pkg-config || need_apt+=(pkg-config)
    [ -f /usr/include/bash/builtins.h ] || need_apt+=(bash-builtins)
    ;;
  demo)
    have bwrap || need_apt+=(bubblewrap)
    ;;
esac
# The instruction-count rows of `make bench` and `make bench-check` run under callgrind.
case "${1:-test}" in
  bench)
    have valgrind || need_apt+=(valgrind)
    ;;
esac
# The container images and `cronium run --container` (scripts/ensure-docker.sh starts the
# daemon): the engine, and debootstrap for the local Debian base of `make images`.
case "${1:-test}" in
  test | containers)
    have docker || need_apt+=(docker.io)
    have debootstrap || need_apt+=(debootstrap)
    ;;
esac
# images/compose.yaml is tested with Debian's docker-compose.
case "${1:-test}" in
  test)
    have docker-compose || need_apt+=(docker-compose)
    ;;
esac

# `make lint-k8s`: kubernetes-validate in the repository's .venv, pinned by
# images/k8s/requirements.txt (reinstalled when that file changes).
if [ "${1:-test}" = k8s ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  req=$root/images/k8s/requirements.txt
  mark=$root/.venv/.cronium-k8s-tools
  if [ ! -f "$mark" ] || [ "$req" -nt "$mark" ] || [ ! -x "$root/.venv/bin/kubernetes-validate" ]; then
    [ -x "$root/.venv/bin/python" ] || python3 -m venv "$root/.venv"
    "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    touch "$mark"
  fi
fi
# `make fuzz` / `make fuzz-smoke`: cargo-fuzz (libFuzzer), built once from crates.io into
# ~/.cargo/bin and kept there.
case "${1:-test}" in
  fuzz)
    if ! cargo fuzz --version >/dev/null 2>&1; then
      echo "installing: cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
      cargo install cargo-fuzz --locked --quiet
    fi
    ;;
esac

if ((${#need_apt[@]})); then
  if [ "$(id -u)" -eq 0 ] && have apt-get; then
    echo "installing: ${need_apt[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing tools: ${need_apt[*]}; install them with your package manager" >&2
    exit 1
  fi
fi

# `make wheels` (packaging/wheels.mk): zig (the linker for glibc 2.17 and musl builds),
# cargo-zigbuild and auditwheel, from PyPI into the repository's .venv.
if [ "${1:-test}" = wheels ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$root/bindings/python/requirements-wheels.txt"
fi

#!/usr/bin/env bash
# Makes sure a container engine answers: installs docker.io and debootstrap when missing
# (through ensure-tools.sh), and when no daemon answers, starts `dockerd` in the background
# (root only; its log goes to $DOCKERD_LOG) and waits until it does. Nothing is started
# when an engine already answers (DOCKER_HOST is honoured).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-tools.sh containers

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
answers && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-docker: the Docker daemon does not answer; start it (sudo systemctl start docker) or set DOCKER_HOST" >&2
  exit 1
fi
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "ensure-docker: nothing answers at DOCKER_HOST=$DOCKER_HOST; unset it to use a local dockerd" >&2
  exit 1
fi
log=${DOCKERD_LOG:-/var/log/cronium-dockerd.log}
echo "ensure-docker: starting dockerd (log: $log)" >&2
# setsid: the daemon outlives this script and the make that ran it.
setsid dockerd >>"$log" 2>&1 </dev/null &
for _ in $(seq 1 120); do
  answers && exit 0
  sleep 0.5
done
echo "ensure-docker: dockerd did not answer within 60 s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1

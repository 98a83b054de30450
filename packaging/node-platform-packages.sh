#!/usr/bin/env bash
# Lays out built Node addons as napi's platform packages, for publishing beside `cronium`:
#   OUT/cronium.<platform>.node            the addon (bundled into the main package as is)
#   OUT/npm/<platform>/package.json        the package `cronium-<platform>` (os, cpu, libc)
#   OUT/npm/<platform>/cronium.<platform>.node
# bindings/node/index.js loads either. Usage: node-platform-packages.sh OUT PLATFORM=LIB.so...
set -euo pipefail

out=${1:?usage: node-platform-packages.sh OUT PLATFORM=FILE...}
shift
version=$(node -p "require('./bindings/node/package.json').version")
for spec in "$@"; do
  platform=${spec%%=*}
  lib=${spec#*=}
  [[ -f $lib ]] || { echo "no addon at $lib for $platform" >&2; exit 2; }
  IFS=- read -r os cpu libc <<<"$platform"
  dir=$out/npm/$platform
  mkdir -p "$dir"
  install -m 0755 "$lib" "$out/cronium.$platform.node"
  install -m 0755 "$lib" "$dir/cronium.$platform.node"
  libc_field=
  case $libc in
    gnu) libc_field='"libc": ["glibc"],' ;;
    musl) libc_field='"libc": ["musl"],' ;;
  esac
  cat >"$dir/package.json" <<JSON
{
  "name": "cronium-$platform",
  "version": "$version",
  "description": "The Cronium Node.js addon for $platform (loaded by the cronium package)",
  "license": "Apache-2.0",
  "os": ["$os"],
  "cpu": ["$cpu"],
  $libc_field
  "main": "cronium.$platform.node",
  "files": ["cronium.$platform.node"]
}
JSON
  echo "$platform: $dir"
done

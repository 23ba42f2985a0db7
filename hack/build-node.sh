#!/usr/bin/env bash
# Builds (or reuses from the cache) everything a real test node runs besides etcd and
# kube-apiserver (hack/build-control-plane.sh): the kubelet, controller-manager, scheduler and
# kube-proxy from the wrapper module hack/testbins/kubernetes; containerd with its runc shim and
# ctr, runc, the CNI plugins and crictl from their own modules on the Go module proxy; CoreDNS from
# the wrapper module hack/testbins/coredns. Also installs the Debian packages the node needs when
# they are missing.
#
#   bash hack/build-node.sh [NAME ...]   (default: all)
#
# Prints one `NAME PATH` line per binary on stdout (`cni DIR` for the plugin directory); progress
# goes to stderr. Each binary is cached under a key made of its version and a hash of its build
# inputs, and written to a temporary name first, so concurrent builds cannot corrupt the cache.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/lib/versions.sh
source "$ROOT/hack/lib/versions.sh"
LOG_PREFIX=node
# shellcheck source=hack/lib/go-build.sh
source "$ROOT/hack/lib/go-build.sh"

ALL=(kubelet kube-controller-manager kube-scheduler kube-proxy containerd containerd-shim-runc-v2 ctr runc cni crictl coredns)
if [ "$#" -eq 0 ]; then set -- "${ALL[@]}"; fi
for name in "$@"; do
  case " ${ALL[*]} " in *" $name "*) ;; *) die "unknown binary '$name' (known: ${ALL[*]})" ;; esac
done
wanted() { local n; for n in "${REQUESTED[@]}"; do [ "$n" = "$1" ] && return 0; done; return 1; }
REQUESTED=("$@")

# The CNI plugins' go.mod asks for the newest Go of these modules.
require_go "the real-node binaries" 1.26.8

# apt_ensure PACKAGE...: installs the Debian packages that are not installed yet.
apt_ensure() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "Debian packages ${missing[*]} are missing and only root can install them"
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || die "apt-get update failed"
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    die "apt-get install ${missing[*]} failed"
}

# What the running node needs: iptables and conntrack for kube-proxy, nftables so teardown can
# list and remove the nf_tables tables that iptables-nft creates.
if wanted kubelet || wanted kube-proxy; then apt_ensure iptables conntrack nftables; fi

emit() { printf '%s %s\n' "$1" "$2"; }

# --- Kubernetes node components from the wrapper module (the same cache dir as kube-apiserver) ---
K8S_DIR="$ROOT/hack/testbins/kubernetes"
K8S_CACHE="$CACHE_ROOT/kubernetes-$K8S_VERSION-$(module_key "$K8S_DIR")"
for name in kubelet kube-controller-manager kube-scheduler kube-proxy; do
  wanted "$name" || continue
  CGO_ENABLED=0 GOFLAGS=-mod=mod go_build "$name" "$K8S_DIR" "$K8S_CACHE/$name" selinux,notest "$(k8s_ldflags)" "./$name"
  reported="$("$K8S_CACHE/$name" --version)"
  [ "$reported" = "Kubernetes $K8S_VERSION" ] || die "$name reports '$reported', expected 'Kubernetes $K8S_VERSION'"
  emit "$name" "$K8S_CACHE/$name"
done

# --- containerd, its runc shim and ctr ---
if wanted containerd || wanted containerd-shim-runc-v2 || wanted ctr; then
  mod=github.com/containerd/containerd/v2
  tags="urfave_cli_no_docs no_btrfs"
  ld="-s -w -X $mod/version.Version=$CONTAINERD_VERSION -X $mod/version.Package=$mod"
  dir="$CACHE_ROOT/containerd-$CONTAINERD_VERSION-$(upstream_key "$mod@$CONTAINERD_VERSION" "$tags" "$ld" 0)"
  src="$(module_source "$mod" "$CONTAINERD_VERSION")"
  for name in containerd containerd-shim-runc-v2 ctr; do
    wanted "$name" || continue
    # The shim leaves out the gRPC server, as upstream's Makefile does: it speaks ttrpc only.
    extra=""; [ "$name" = containerd-shim-runc-v2 ] && extra=" no_grpc"
    CGO_ENABLED=0 GOFLAGS=-mod=readonly go_build "$name" "$src" "$dir/$name" "$tags$extra" "$ld" "./cmd/$name"
    case "$("$dir/$name" --version 2>&1)" in
      *"$CONTAINERD_VERSION"*) ;;
      *) die "$name does not report version $CONTAINERD_VERSION" ;;
    esac
    emit "$name" "$dir/$name"
  done
fi

# --- runc: cgo against Debian's libseccomp; upstream's default libpathrs tag needs a Rust C
# library that Debian does not ship, so it is left out (runc then uses its pure-Go path code). ---
if wanted runc; then
  mod=github.com/opencontainers/runc
  tags="seccomp urfave_cli_no_docs"
  ld="-s -w"
  dir="$CACHE_ROOT/runc-$RUNC_VERSION-$(upstream_key "$mod@$RUNC_VERSION" "$tags" "$ld" 1)"
  if [ ! -x "$dir/runc" ]; then
    apt_ensure libseccomp-dev pkg-config gcc libc6-dev
    src="$(module_source "$mod" "$RUNC_VERSION")"
    CGO_ENABLED=1 GOFLAGS=-mod=readonly go_build runc "$src" "$dir/runc" "$tags" "$ld" .
  else
    log "runc: cached at $dir/runc"
  fi
  case "$("$dir/runc" --version 2>&1)" in
    *"runc version ${RUNC_VERSION#v}"*) ;;
    *) die "runc does not run or does not report version $RUNC_VERSION (is libseccomp2 installed?)" ;;
  esac
  emit runc "$dir/runc"
fi

# --- CNI plugins: the four a bridge network with host-local addresses and hostPorts needs ---
if wanted cni; then
  mod=github.com/containernetworking/plugins
  ld="-s -w -X $mod/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION"
  dir="$CACHE_ROOT/cni-plugins-$CNI_PLUGINS_VERSION-$(upstream_key "$mod@$CNI_PLUGINS_VERSION" "" "$ld" 0)"
  src="$(module_source "$mod" "$CNI_PLUGINS_VERSION")"
  for plugin in main/bridge ipam/host-local main/loopback meta/portmap; do
    name="${plugin#*/}"
    CGO_ENABLED=0 GOFLAGS=-mod=readonly go_build "cni $name" "$src" "$dir/$name" "" "$ld" "./plugins/$plugin"
    case "$("$dir/$name" 2>&1)" in
      *"$CNI_PLUGINS_VERSION"*) ;;
      *) die "CNI plugin $name does not report version $CNI_PLUGINS_VERSION" ;;
    esac
  done
  emit cni "$dir"
fi

# --- crictl ---
if wanted crictl; then
  mod=sigs.k8s.io/cri-tools
  ld="-s -w -X $mod/pkg/version.Version=$CRICTL_VERSION"
  dir="$CACHE_ROOT/crictl-$CRICTL_VERSION-$(upstream_key "$mod@$CRICTL_VERSION" "" "$ld" 0)"
  src="$(module_source "$mod" "$CRICTL_VERSION")"
  CGO_ENABLED=0 GOFLAGS=-mod=readonly go_build crictl "$src" "$dir/crictl" "" "$ld" ./cmd/crictl
  case "$("$dir/crictl" --version 2>&1)" in
    *"$CRICTL_VERSION"*) ;;
    *) die "crictl does not report version $CRICTL_VERSION" ;;
  esac
  emit crictl "$dir/crictl"
fi

# --- CoreDNS: static, since its image holds nothing but the binary; from the wrapper module
# hack/testbins/coredns, which links only the plugins the node's Corefile uses ---
if wanted coredns; then
  COREDNS_DIR="$ROOT/hack/testbins/coredns"
  ld="-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION"
  out="$CACHE_ROOT/coredns-$COREDNS_VERSION-$(module_key "$COREDNS_DIR")/coredns"
  CGO_ENABLED=0 GOFLAGS=-mod=readonly go_build coredns "$COREDNS_DIR" "$out" "" "$ld" .
  case "$("$out" -version 2>&1)" in
    *"CoreDNS-${COREDNS_VERSION#v}"*) ;;
    *) die "coredns does not report version $COREDNS_VERSION" ;;
  esac
  grep -q "github.com/coredns/coredns $COREDNS_VERSION\$" "$COREDNS_DIR/go.mod" ||
    die "hack/testbins/coredns/go.mod does not require CoreDNS $COREDNS_VERSION (hack/lib/versions.sh)"
  emit coredns "$out"
fi

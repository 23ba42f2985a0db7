#!/usr/bin/env bash
# Builds (or reuses from the cache) upstream Prometheus for the cluster suite that scrapes the
# chart's pods through Kubernetes service discovery. Debian's prometheus package (2.42.0+ds, which
# the integration suites use) is built without the Kubernetes discovery ("Kubernetes support has
# been completely removed", its NEWS), so this one comes from its own module on the Go module
# proxy, with the discovery plugins cut down by upstream's build tags to Kubernetes (plus the file
# and HTTP ones upstream always keeps) and without the web UI assets: the tests use the API only.
#
#   bash hack/build-prometheus.sh
#
# Prints `prometheus PATH` on stdout; progress goes to stderr. Cached like hack/build-node.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/lib/versions.sh
source "$ROOT/hack/lib/versions.sh"
LOG_PREFIX=prometheus
# shellcheck source=hack/lib/go-build.sh
source "$ROOT/hack/lib/go-build.sh"

require_go "Prometheus $PROMETHEUS_MODULE_VERSION" 1.26.7

mod=github.com/prometheus/prometheus
tags="remove_all_sd enable_kubernetes_sd"
ld="-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION -X github.com/prometheus/common/version.Branch=v$PROMETHEUS_VERSION"
dir="$CACHE_ROOT/prometheus-$PROMETHEUS_VERSION-$(upstream_key "$mod@$PROMETHEUS_MODULE_VERSION" "$tags" "$ld" 0)"
src="$(module_source "$mod" "$PROMETHEUS_MODULE_VERSION")"
grep -qx "$PROMETHEUS_VERSION" "$src/VERSION" ||
  die "$mod@$PROMETHEUS_MODULE_VERSION is Prometheus $(cat "$src/VERSION"), not $PROMETHEUS_VERSION (hack/lib/versions.sh)"
CGO_ENABLED=0 GOFLAGS=-mod=readonly go_build prometheus "$src" "$dir/prometheus" "$tags" "$ld" ./cmd/prometheus
case "$("$dir/prometheus" --version 2>&1)" in
  *"version $PROMETHEUS_VERSION"*) ;;
  *) die "prometheus does not report version $PROMETHEUS_VERSION" ;;
esac
printf 'prometheus %s\n' "$dir/prometheus"

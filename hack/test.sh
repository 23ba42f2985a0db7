#!/usr/bin/env bash
# The README's test command: from a fresh machine to a passing run of the unit, integration and
# cluster suites. Provisions Node 24, installs the locked dependencies, builds (or reuses) the real
# kube-apiserver and etcd and the image tarballs, then runs two chains side by side. One
# type-checks, lints and runs the vitest projects unit, integration and integration-postgres; the
# other (the cluster chain) builds (or reuses) the real node's binaries and upstream Prometheus and
# runs the cluster project, which needs root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=hack/lib/node.sh
source hack/lib/node.sh
echo "[test] node $(node --version), npm $(npm --version 2>/dev/null)"

# npm_ci DIR: installs DIR's locked dependencies unless they are installed from this lock already.
npm_ci() {
  local stamp="$1/node_modules/.agentmeter-lock-sha" lock_sha
  lock_sha="$(sha256sum "$1/package-lock.json" | cut -d' ' -f1)-$(node --version)"
  if [ "${CI:-}" = "true" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sha" ]; then
    echo "[test] npm ci in $1"
    (cd "$1" && npm ci --no-audit --no-fund)
    echo "$lock_sha" > "$stamp"
  fi
}
npm_ci .
# The test workload apps are their own packages (each stands for a user's app), typechecked and tested here.
npm_ci test/apps/agent-app
npm_ci test/apps/openai-app

echo "[test] control plane binaries"
bash hack/build-control-plane.sh >/dev/null

echo "[test] images (no engine: Debian packages, npm, Go module proxy)"
bash hack/build-images.sh >/dev/null
# Debian packages first, one after another (apt holds one lock); the cluster chain below may add
# its own (iptables, conntrack) once these are done.
echo "[test] prometheus"
bash hack/ensure-prometheus.sh
echo "[test] postgresql"
bash hack/ensure-postgres.sh
echo "[test] helm"
bash hack/ensure-helm.sh >/dev/null
[ "$(id -u)" -eq 0 ] || { echo "[test] the cluster suites need root (a real kubelet, cgroups, iptables); run as root" >&2; exit 1; }

# The cluster suites mostly wait on the real node (ticks, rollouts, lease expiry), and so do the
# control-plane suites on theirs: the two run side by side, which takes the warm run from the sum
# of the stages to about the longest. They share nothing: the control-plane suites make their
# cgroups under prefixes of their own, which the real kubelet leaves alone, and bind free loopback
# ports. The cluster chain's lines are prefixed with [cluster].
cluster_chain() {
  set -e
  echo "[test] real node binaries"
  bash hack/build-node.sh >/dev/null
  # Debian's Prometheus has no Kubernetes service discovery; the cluster suite that scrapes the
  # chart's pods through it runs upstream's, built from its Go module.
  echo "[test] upstream prometheus"
  bash hack/build-prometheus.sh >/dev/null
  echo "[test] cluster suites (real kubelet, containerd, runc, CNI, CoreDNS; the chart installed)"
  npx vitest run --project cluster
}
( cluster_chain ) > >(sed -u 's/^/[cluster] /') 2>&1 &
cluster_pid=$!

# The cluster chain is the longer one, so everything that does not gate it runs here. A failure
# here still waits for the cluster chain, whose last suite takes the real node down.
local_rc=0
{
  echo "[test] typecheck" &&
    npx tsc -p tsconfig.json &&
    echo "[test] lint" &&
    npx eslint . &&
    { npx prettier --check . >/dev/null || { npx prettier --check . && false; }; } &&
    echo "[test] unit suites" &&
    npx vitest run --project unit &&
    echo "[test] integration suites (real kube-apiserver, etcd, cgroups, Prometheus, PostgreSQL)" &&
    npx vitest run --project integration &&
    echo "[test] operator suites again on the PostgreSQL store" &&
    npx vitest run --project integration-postgres
} || local_rc=$?
cluster_rc=0
wait "$cluster_pid" || cluster_rc=$?
echo "[test] unit and control-plane suites: rc=$local_rc; cluster suites: rc=$cluster_rc"
[ "$local_rc" -eq 0 ] && [ "$cluster_rc" -eq 0 ]

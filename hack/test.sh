#!/usr/bin/env bash
# The README's test command: from a fresh machine to a passing run of the unit and integration
# suites. Provisions Node 24, installs the locked dependencies, builds (or reuses) the real
# kube-apiserver and etcd, type-checks, lints, then runs both vitest projects.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=hack/lib/node.sh
source hack/lib/node.sh
echo "[test] node $(node --version), npm $(npm --version 2>/dev/null)"

stamp="node_modules/.agentmeter-lock-sha"
lock_sha="$(sha256sum package-lock.json | cut -d' ' -f1)-$(node --version)"
if [ "${CI:-}" = "true" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sha" ]; then
  echo "[test] npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_sha" > "$stamp"
fi

echo "[test] control plane binaries"
bash hack/build-control-plane.sh >/dev/null

echo "[test] typecheck"
npx tsc -p tsconfig.json
echo "[test] lint"
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }

echo "[test] unit suites"
npx vitest run --project unit
echo "[test] prometheus"
bash hack/ensure-prometheus.sh
echo "[test] postgresql"
bash hack/ensure-postgres.sh
echo "[test] helm"
bash hack/ensure-helm.sh >/dev/null
echo "[test] integration suites (real kube-apiserver, etcd, cgroups, Prometheus, PostgreSQL)"
npx vitest run --project integration

#!/usr/bin/env bash
# The README's main command: agentmeter end to end on this machine. Provisions Node 24, installs
# the locked dependencies when they changed, then runs hack/demo.ts, which builds (first run) or
# reuses the local control plane and meters real processes in kubelet-style cgroups.
#   bash hack/demo.sh               live table until Ctrl-C
#   bash hack/demo.sh --duration 45 run once, print the final table, exit 0 only if every
#                                   demo session was charged (for CI)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=hack/lib/node.sh
source hack/lib/node.sh

stamp="node_modules/.agentmeter-lock-sha"
lock_sha="$(sha256sum package-lock.json | cut -d' ' -f1)-$(node --version)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sha" ]; then
  echo "[demo] npm ci" >&2
  npm ci --no-audit --no-fund >&2
  echo "$lock_sha" > "$stamp"
fi

# exec: Ctrl-C and SIGTERM reach the demo itself, which removes what it made.
exec node hack/demo.ts "$@"

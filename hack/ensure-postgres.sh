#!/usr/bin/env bash
# Makes sure Debian's PostgreSQL server binaries (/usr/lib/postgresql/VERSION/bin) are installed
# and that no PostgreSQL service is left running: the tests start their own throwaway cluster on
# loopback as a non-root user (test/support/postgres.ts). Idempotent; when the server exists it
# only prints its version.
set -euo pipefail

server() { ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(server)" ]; then
  # shellcheck source=hack/lib/apt.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
  apt_install_quietly postgresql
  if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo -n); fi
  if [ -z "$(server)" ]; then
    echo "[postgres] the postgresql package installed no server under /usr/lib/postgresql" >&2
    exit 1
  fi
  # Only the package's own cluster, which runs from /var/lib/postgresql; never a test's.
  if pgrep -u postgres -f '^/usr/lib/postgresql/.*/bin/postgres -D /var/lib/postgresql' >/dev/null; then
    echo "[postgres] stopping the cluster the package started" >&2
    "${as_root[@]}" pg_ctlcluster --mode fast "$(basename "$(dirname "$(dirname "$(server)")")")" main stop >&2 || true
  fi
fi
if [ "$(id -u)" -eq 0 ] && ! id -u postgres >/dev/null 2>&1; then
  echo "[postgres] running as root needs Debian's postgres user to run the server (initdb refuses root)" >&2
  exit 1
fi

"$(server)" --version

#!/usr/bin/env bash
# Makes sure Debian's Prometheus (/usr/bin/prometheus and /usr/bin/promtool) is installed and that
# no Prometheus service is left running: the tests start their own on loopback. Idempotent; when
# both binaries exist it only prints their versions.
set -euo pipefail

PROMETHEUS=/usr/bin/prometheus
PROMTOOL=/usr/bin/promtool

if [ ! -x "$PROMETHEUS" ] || [ ! -x "$PROMTOOL" ]; then
  # shellcheck source=hack/lib/apt.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"
  apt_install_quietly prometheus
  if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo -n); fi
  # Belt and braces: stop a service that started anyway (only the package's daemon, which runs
  # as the prometheus user from /usr/bin/prometheus; never a test's own instance).
  if pids="$(pgrep -u prometheus -x prometheus)"; then
    echo "[prometheus] stopping the service the package started: $pids" >&2
    "${as_root[@]}" /etc/init.d/prometheus stop >&2 || "${as_root[@]}" kill $pids || true
  fi
fi

"$PROMETHEUS" --version 2>&1 | head -n 1
"$PROMTOOL" --version 2>&1 | head -n 1

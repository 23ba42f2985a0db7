#!/usr/bin/env bash
# Makes sure Debian's Prometheus (/usr/bin/prometheus and /usr/bin/promtool) is installed and that
# no Prometheus service is left running: the tests start their own on loopback. Idempotent; when
# both binaries exist it only prints their versions.
set -euo pipefail

PROMETHEUS=/usr/bin/prometheus
PROMTOOL=/usr/bin/promtool

if [ ! -x "$PROMETHEUS" ] || [ ! -x "$PROMTOOL" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
  else
    echo "[prometheus] $PROMETHEUS or $PROMTOOL is missing and installing needs root (or sudo)" >&2
    exit 1
  fi
  # policy-rc.d exit 101 tells invoke-rc.d not to start the service the package's postinst
  # enables; without systemd its init script would otherwise start a Prometheus on :9090.
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 0755 "$policy"
    own_policy=true
  fi
  cleanup() { if $own_policy; then "${as_root[@]}" rm -f "$policy"; fi; }
  trap cleanup EXIT
  echo "[prometheus] installing Debian's prometheus package" >&2
  "${as_root[@]}" apt-get update -qq >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends prometheus >&2
  # Belt and braces: stop a service that started anyway (only the package's daemon, which runs
  # as the prometheus user from /usr/bin/prometheus; never a test's own instance).
  if pids="$(pgrep -u prometheus -x prometheus)"; then
    echo "[prometheus] stopping the service the package started: $pids" >&2
    "${as_root[@]}" /etc/init.d/prometheus stop >&2 || "${as_root[@]}" kill $pids || true
  fi
fi

"$PROMETHEUS" --version 2>&1 | head -n 1
"$PROMTOOL" --version 2>&1 | head -n 1

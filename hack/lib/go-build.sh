# Shared by the scripts that build test binaries from the Go module proxy (sourced, not run).
# The caller sets LOG_PREFIX and sources hack/lib/versions.sh first. Every build writes to a
# temporary name and renames it, so two worktrees building at once cannot corrupt a cache entry.

CACHE_ROOT="${AGENTMETER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agentmeter}/testbins"

log() { printf '[%s] %s\n' "$LOG_PREFIX" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$LOG_PREFIX" "$*" >&2; exit 1; }

# require_go WHAT [MIN]: fails with the reason unless Go >= MIN (default GO_MIN) is installed.
require_go() {
  local min="${2:-$GO_MIN}" have
  command -v go >/dev/null 2>&1 || die "Go is not installed; Go >= $min is needed to build $1"
  have="$(go env GOVERSION | sed 's/^go//')"
  if [ "$(printf '%s\n%s\n' "$min" "$have" | sort -V | head -n1)" != "$min" ]; then
    die "Go $have is older than $min, which $1 requires"
  fi
}

export GOTOOLCHAIN=local GOWORK=off

# A key for a wrapper module: its go.mod, go.sum and Go sources.
module_key() { (cd "$1" && cat go.mod go.sum $(find . -name '*.go' | sort)) | sha256sum | cut -c1-12; }

# upstream_key MODULE@VERSION TAGS LDFLAGS CGO: the cache key of a build from an upstream module.
upstream_key() { printf '%s|%s|%s|cgo=%s|%s' "$@" "$(go env GOVERSION)" | sha256sum | cut -c1-12; }

# The -ldflags that stamp a Kubernetes binary with its version, as upstream hack/lib/version.sh does.
k8s_ldflags() {
  local minor="${K8S_VERSION#v1.}" ld="-s -w" p
  minor="${minor%%.*}"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$ld"
}

# go_build NAME MODULE_DIR OUT_PATH TAGS LDFLAGS PACKAGE
# Builds one main package in MODULE_DIR into OUT_PATH unless it is there already. The compiler's
# -v package names become a progress line every 100 packages; its errors go to stderr as they are.
go_build() {
  local name="$1" dir="$2" out="$3" tags="$4" ldflags="$5" pkg="$6"
  if [ -x "$out" ]; then
    log "$name: cached at $out"
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  local tmp="$out.tmp.$$" started=$SECONDS count=0 line status
  log "$name: building (a cold build takes minutes on 2 cores)"
  # Only the modules this package needs with these tags: a module's go.mod lists every optional
  # part's dependencies too (Prometheus's cloud discoveries, for one).
  (cd "$dir" && go list -deps -tags "$tags" "$pkg" >/dev/null) || die "$name: downloading modules failed (is the Go module proxy reachable?)"
  set +e
  (cd "$dir" && go build -v -p 2 -buildvcs=false -trimpath -tags "$tags" -ldflags "$ldflags" -o "$tmp" "$pkg" 2>&1) |
    while IFS= read -r line; do
      case "$line" in
        *" "*|*:*) printf '%s\n' "$line" >&2 ;;
        *) count=$((count + 1))
           if [ $((count % 100)) -eq 0 ]; then log "$name: compiled $count packages ($((SECONDS - started))s)"; fi ;;
      esac
    done
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] && [ -x "$tmp" ] || { rm -f "$tmp"; die "$name: go build failed with status $status (see the compiler output above)"; }
  mv "$tmp" "$out"
  log "$name: built in $((SECONDS - started))s -> $out"
}

# module_source MODULE VERSION -> prints a writable copy of the module's source tree. Building
# from the module's own directory lets its go.mod and go.sum pin every dependency, as upstream's
# release builds do; the copy lives in the cache so later builds reuse the same path.
module_source() {
  local module="$1" version="$2" dir src tmp
  dir="$CACHE_ROOT/src/$(printf '%s' "$module" | tr '/' '_')@$version"
  if [ -f "$dir/go.mod" ]; then
    printf '%s\n' "$dir"
    return 0
  fi
  src="$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$src" ] && [ -f "$src/go.mod" ] || die "cannot download $module@$version from the Go module proxy"
  mkdir -p "$CACHE_ROOT/src"
  tmp="$(mktemp -d "$CACHE_ROOT/src/.copy.XXXXXX")"
  cp -R "$src/." "$tmp/"
  chmod -R u+w "$tmp"
  mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  printf '%s\n' "$dir"
}

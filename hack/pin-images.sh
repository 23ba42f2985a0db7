#!/usr/bin/env bash
# Pins the Node base image of both Dockerfiles by digest: resolves the tag in NODE_IMAGE to its
# current multi-arch index digest and writes `tag@sha256:...` back. Needs Docker (buildx), so it
# runs on a developer machine, not on the project's CI machines. Re-run to move to a new patch.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v docker >/dev/null || { echo "[pin-images] docker is required" >&2; exit 1; }
for file in operator/Dockerfile node-agent/Dockerfile; do
  ref="$(sed -n 's/^ARG NODE_IMAGE=\([^@]*\).*/\1/p' "$file")"
  digest="$(docker buildx imagetools inspect "$ref" --format '{{json .Manifest.Digest}}' | tr -d '"')"
  [[ "$digest" == sha256:* ]] || { echo "[pin-images] no digest for $ref" >&2; exit 1; }
  sed -i "s|^ARG NODE_IMAGE=.*|ARG NODE_IMAGE=${ref}@${digest}|" "$file"
  echo "[pin-images] $file: ${ref}@${digest}"
done

#!/usr/bin/env bash
# Shared by the scripts that build something once into the ipsec-mesh cache (the engine, the
# guest image, the S3 server): where the cache is, and messages tagged with what is built.
# Source it after setting BUILD_TAG (e.g. engine); it sets CACHE_BASE and START.
# shellcheck disable=SC2034 # CACHE_BASE and START are for the sourcing script
CACHE_BASE="${IPSEC_MESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-mesh}"
START=$SECONDS

log() { printf '[%s] %s\n' "$BUILD_TAG" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "$BUILD_TAG" "$*" >&2
  exit 1
}
step() { log "$1 (+$((SECONDS - START))s)"; }

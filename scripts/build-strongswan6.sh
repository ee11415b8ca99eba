#!/usr/bin/env bash
# Builds upstream strongSwan 6.0.6 (RFC 9370 multiple key exchanges, ML-KEM through its `ml`
# plugin) for the namespace lab's `strongswan: '6'` hosts (lab/netns, docs/lab.md), from the
# source archive in ../shared/upstream with its build-strongswan.sh (README there: provenance,
# configure flags, plugins). Debian 12's packaged 5.9.8 stays the machine's strongSwan; this
# one lives in its own prefix in the build cache and is made the one in use only inside a lab
# host's mount namespace.
#
#   scripts/build-strongswan6.sh              build if missing, print the prefix
#   scripts/build-strongswan6.sh --print-dir  print the prefix if built (exit 1 if not); builds nothing
#   scripts/build-strongswan6.sh --key        print the prefix for the current sources (built or not)
#
# Output: ${IPSEC_MESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-mesh}/strongswan6/<key>:
# PREFIX/libexec/ipsec/charon, PREFIX/sbin/swanctl, PREFIX/etc (strongswan.conf, strongswan.d,
# swanctl), PREFIX/var/run. <key> changes with the archive and the upstream build script.
# strongSwan bakes its prefix into the binaries (plugin dir, config paths), so the build
# installs into the final directory; a stamp (.complete) written last marks it done, and a
# directory without the stamp (an interrupted build) is removed and built again. A second
# run only prints the prefix. About 2 minutes cold on 2 cores (apt build deps, if missing,
# are installed by build-strongswan.sh itself).
#
# Environment: IPSEC_MESH_UPSTREAM (default ../shared/upstream beside the repo) is where the
# archive is; JOBS (default 2) is make's parallelism.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_TAG=strongswan6
# shellcheck source=scripts/build-cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-cache-lib.sh"
SS_ROOT="$CACHE_BASE/strongswan6"
UPSTREAM="${IPSEC_MESH_UPSTREAM:-$ROOT/../shared/upstream}"
VERSION=6.0.6

parse_build_mode 23 "$@"

BUILDER="$UPSTREAM/build-strongswan.sh"
TARBALL="$UPSTREAM/strongswan-$VERSION.tar.gz"
LAYOUT=1 # bump when the layout of a build changes
if [[ -f "$BUILDER" && -f "$TARBALL" ]]; then
  SRC_HASH="$(cat "$BUILDER" "$TARBALL" | sha256sum | cut -c1-10)"
else
  SRC_HASH=nosource
fi
KEY="strongswan-$VERSION-$(printf '%s %s' "$SRC_HASH" "$LAYOUT" | sha256sum | cut -c1-10)"
DEST="$SS_ROOT/$KEY"

complete() {
  [[ -f "$DEST/.complete" && -x "$DEST/sbin/swanctl" && -x "$DEST/libexec/ipsec/charon" ]]
}

if [[ "$mode" == key ]]; then
  printf '%s\n' "$DEST"
  exit 0
fi
if [[ "$mode" == print-dir ]]; then
  complete || exit 1
  printf '%s\n' "$DEST"
  exit 0
fi

build() {
  [[ -f "$BUILDER" && -f "$TARBALL" ]] ||
    die "no $BUILDER or $TARBALL (set IPSEC_MESH_UPSTREAM to the folder with the strongSwan archive)"
  mkdir -p "$SS_ROOT"
  exec 9>"$SS_ROOT/.lock"
  if ! flock -n 9; then
    log "another build holds $SS_ROOT/.lock; waiting for it"
    flock 9
  fi
  complete && return 0 # the other build made it
  # Holding the lock, anything here without a stamp is left from a killed build.
  rm -rf "$SS_ROOT"/.work-* "$DEST"
  local work
  work="$(mktemp -d "$SS_ROOT/.work-XXXXXX")"
  # shellcheck disable=SC2064 # expand now: the work dir of this build
  trap "rm -rf '$work'" EXIT

  step "building strongSwan $VERSION into $DEST (../shared/upstream/build-strongswan.sh)"
  if ! bash "$BUILDER" "$DEST" "$work" >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    rm -rf "$DEST"
    die "building strongSwan $VERSION failed (last lines of build-strongswan.sh above)"
  fi
  grep '^== ' "$work/build.log" | while read -r line; do log "  $line"; done
  local v
  v="$("$DEST/libexec/ipsec/charon" --version 2>&1 || true)"
  [[ "$v" == "strongSwan $VERSION" ]] || die "the built charon reports \"$v\", not strongSwan $VERSION"
  [[ -f "$DEST/lib/ipsec/plugins/libstrongswan-ml.so" ]] || die "the build has no ml plugin (ML-KEM)"
  printf 'strongswan=%s source=%s built=%s seconds=%s\n' \
    "$VERSION" "$SRC_HASH" "$(date -u +%FT%TZ)" "$((SECONDS - START))" >"$DEST/.complete"
  # Builds of other sources are superseded.
  local d
  for d in "$SS_ROOT"/strongswan-*/; do
    d="${d%/}"
    [[ "$d" == "$DEST" ]] || rm -rf "$d"
  done
  step "done"
}

if complete; then
  log "up to date: $DEST"
else
  build
fi
printf '%s\n' "$DEST"

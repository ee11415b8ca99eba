#!/usr/bin/env bash
# Builds the S3-compatible object store the lab tests use as a Pulumi state backend
# (issue 14 item 6): SeaweedFS's `weed` (Apache-2.0), from the Go module proxy through a
# generated wrapper module, like the pulumi CLI in build-engine.sh. `weed server -s3`
# runs master, volume, filer and S3 gateway in one process; lab/s3-backend.ts starts it
# inside the lab's operator network namespace. Never an AGPL server (no MinIO).
#
#   scripts/build-s3-server.sh              build if missing, print the bin dir
#   scripts/build-s3-server.sh --print-dir  print the bin dir if built (exit 1 if not); builds nothing
#   scripts/build-s3-server.sh --key        print the build directory for the current versions (built or not)
#
# Output: ${IPSEC_MESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-mesh}/s3-server/<key>/bin/weed,
# <key> changing with the pinned version and the Go version. A build is renamed into
# place with a stamp, so an interrupted one never looks complete and a second run only
# prints the path. Measured on 2 cores with empty Go module and build caches: 411 s
# (162 s fetching ~3.3 GB of modules, 249 s compiling); the binary (-trimpath, -s -w) is
# 164 MB. The stamp records the seconds and bytes of each build.
#
# SeaweedFS builds here with the machine's Go (its go.mod asks for 1.26.6), so no
# GOTOOLCHAIN is needed; versitygw, the fallback the plan named, was not needed.
#
# Environment: IPSEC_MESH_GO_PARALLEL (default 2) is `go build -p`.
set -euo pipefail

# The pinned server: github.com/seaweedfs/seaweedfs at this pseudo-version (the one the
# module proxy serves here), package weed.
SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
SEAWEEDFS_V=v0.0.0-20261109003541-7506e5f91cd6
SEAWEEDFS_PKG="$SEAWEEDFS_MODULE/weed"

BUILD_TAG=s3-server
# shellcheck source=scripts/build-cache-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-cache-lib.sh"
S3_ROOT="$CACHE_BASE/s3-server"
GO_PARALLEL="${IPSEC_MESH_GO_PARALLEL:-2}"


parse_build_mode 21 "$@"

GO_V="$(go env GOVERSION 2>/dev/null || echo nogo)"
LAYOUT=1 # bump when the layout of a build changes
KEY="seaweedfs-$SEAWEEDFS_V-$(printf '%s %s' "$GO_V" "$LAYOUT" | sha256sum | cut -c1-10)"
DEST="$S3_ROOT/$KEY"

if [[ "$mode" == key ]]; then
  printf '%s\n' "$DEST"
  exit 0
fi
if [[ "$mode" == print-dir ]]; then
  [[ -f "$DEST/.complete" && -x "$DEST/bin/weed" ]] || exit 1
  printf '%s\n' "$DEST/bin"
  exit 0
fi

build() {
  command -v go >/dev/null || die "go is not on PATH (Go >= 1.26.6 builds SeaweedFS $SEAWEEDFS_V)"
  command -v node >/dev/null || die "node is not on PATH (it reads go's JSON output here)"
  mkdir -p "$S3_ROOT"
  exec 9>"$S3_ROOT/.lock"
  if ! flock -n 9; then
    log "another build holds $S3_ROOT/.lock; waiting for it"
    flock 9
  fi
  [[ -f "$DEST/.complete" ]] && return 0 # the other build made it
  # Holding the lock, anything temporary here is left from a killed build.
  rm -rf "$S3_ROOT"/.tmp-* "$DEST"
  TMP="$(mktemp -d "$S3_ROOT/.tmp-XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  MOD="$TMP/mod"
  mkdir -p "$TMP/bin" "$MOD"
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

  step "[1/2] resolving $SEAWEEDFS_MODULE@$SEAWEEDFS_V from the Go module proxy"
  (
    cd "$MOD"
    go mod init ipsec-mesh.local/s3-server >/dev/null 2>&1
    # SeaweedFS replaces a deleted go-bip39: its replace directives are copied.
    copy_module_replaces "$SEAWEEDFS_MODULE@$SEAWEEDFS_V" || exit 1
    if ! go get "$SEAWEEDFS_PKG@$SEAWEEDFS_V" >"$TMP/go-get.log" 2>&1; then
      tail -n 30 "$TMP/go-get.log" >&2
      exit 1
    fi
  ) || die "could not resolve the modules (is the Go module proxy reachable?)"

  step "[2/2] go build $SEAWEEDFS_PKG (the long step: minutes of silence, a heartbeat every 30 s)"
  local t0=$SECONDS hb rc=0
  (while sleep 30; do log "  ... still building weed ($((SECONDS - t0))s)"; done) &
  hb=$!
  (cd "$MOD" && go build -p "$GO_PARALLEL" -trimpath -ldflags "-s -w" -o "$TMP/bin/weed" "$SEAWEEDFS_PKG") || rc=$?
  kill "$hb" 2>/dev/null || true
  wait "$hb" 2>/dev/null || true
  [[ $rc == 0 ]] || die "building weed failed (go output above)"
  log "  built weed in $((SECONDS - t0))s, $(du -m "$TMP/bin/weed" | cut -f1) MB"
  "$TMP/bin/weed" version >/dev/null 2>&1 || die "the built weed does not run (weed version failed)"

  rm -rf "$MOD"
  printf 'seaweedfs=%s go=%s built=%s seconds=%s bytes=%s\n' \
    "$SEAWEEDFS_V" "$GO_V" "$(date -u +%FT%TZ)" "$((SECONDS - START))" \
    "$(stat -c %s "$TMP/bin/weed")" >"$TMP/.complete"
  mv -T "$TMP" "$DEST"
  trap - EXIT
  # Builds of other versions or Go versions are superseded.
  local d
  for d in "$S3_ROOT"/seaweedfs-*/; do
    d="${d%/}"
    [[ "$d" == "$DEST" ]] || rm -rf "$d"
  done
  step "done"
}

if [[ -f "$DEST/.complete" ]]; then
  log "up to date: $DEST/bin"
else
  log "building into $DEST"
  build
fi
printf '%s\n' "$DEST/bin"

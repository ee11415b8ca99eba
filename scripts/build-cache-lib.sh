#!/usr/bin/env bash
# Shared by the scripts that build something once into the ipsec-mesh cache (the engine, the
# guest image, the S3 server): where the cache is, and messages tagged with what is built.
# Source it after setting BUILD_TAG (e.g. engine); it sets CACHE_BASE and START.
# shellcheck disable=SC2034 # CACHE_BASE, START and mode are for the sourcing script
CACHE_BASE="${IPSEC_MESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-mesh}"
START=$SECONDS

log() { printf '[%s] %s\n' "$BUILD_TAG" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "$BUILD_TAG" "$*" >&2
  exit 1
}
step() { log "$1 (+$((SECONDS - START))s)"; }

# The mode the sourcing script was called for: build (no argument), print-dir or key; --help
# prints the script's header comment, lines 2 to $1. Sets mode.
parse_build_mode() {
  local help_last=$1 arg
  shift
  mode=build
  for arg in "$@"; do
    case "$arg" in
      --print-dir) mode=print-dir ;;
      --key) mode=key ;;
      -h | --help)
        sed -n "2,${help_last}p" "${BASH_SOURCE[1]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
      *) die "unknown argument $arg (try --help)" ;;
    esac
  done
}

# In a wrapper module (the current directory): copy the replace directives of MODULE@VERSION's
# go.mod that point at another module. A module's replaces do not apply to a module that
# requires it, and the builds here require the upstream module from a wrapper.
copy_module_replaces() {
  local gomod
  # shellcheck disable=SC2016 # JavaScript for node, not shell
  gomod="$(go mod download -json "$1" | node -e '
    let s = "";
    process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const j = JSON.parse(s);
      if (j.Error) { console.error(j.Error); process.exit(1); }
      console.log(j.GoMod);
    });')" || return 1
  # shellcheck disable=SC2016 # JavaScript for node, not shell
  go mod edit -json "$gomod" | node -e '
    let s = "";
    process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const r of JSON.parse(s).Replace || []) {
        if (r.New.Version) console.log(`${r.Old.Path}${r.Old.Version ? "@" + r.Old.Version : ""}=${r.New.Path}@${r.New.Version}`);
      }
    });' | while read -r rep; do
    log "  replace $rep (copied from the go.mod of $1)"
    go mod edit -replace "$rep"
  done
}

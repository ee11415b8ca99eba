#!/bin/sh
# ipsec-mesh drift check: read-only, run on one host (as root) by `ipsec-mesh status --drift`
# and by the stack program before an `up` (drift-check.ts beside this folder). Compares
# what the last push installed with what the host has now:
#   - every file the push wrote, by the SHA-256 the push recorded in its state file;
#   - every kernel setting of the mesh's sysctl.d files, by `sysctl -n`.
# Changes nothing. Output, one record per line (parsed by drift-check.ts):
#   DRIFT file <path> changed | missing
#   DRIFT sysctl <key> <live value> => <wanted value>
#   UNTRACKED <n>          files pushed by a release that recorded no hashes (not compared)
#   NOSTATE                no push of this mesh on this host
#   SUMMARY <drifted> <files compared> <settings compared>
#
# usage: sh drift-check.sh MESH [--root DIR]     (DIR: test hook, prefixes every path)
set -u
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
M=${1:-}
R=
case $M in "" | -* | *[!a-z0-9-]*) echo "ERROR mesh name must be a DNS label" >&2; exit 2 ;; esac
if [ "$#" = 3 ] && [ "$2" = --root ]; then R=$3; elif [ "$#" != 1 ]; then echo "ERROR usage: drift-check.sh MESH [--root DIR]" >&2; exit 2; fi
STATE=$R/etc/swanctl/.ipsec-mesh-state.$M
if [ ! -f "$STATE" ]; then
  echo NOSTATE
  exit 0
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/ipsec-mesh-drift.XXXXXX") || { echo "ERROR cannot make a work directory" >&2; exit 1; }
# shellcheck disable=SC2317 # run by the trap
cleanup() { rm -rf "$W"; }
trap cleanup EXIT

drift=0
files=0
settings=0
: > "$W/hashed"
: > "$W/sysctl"
while read -r k a b; do
  case $k in
    S)
      printf "%s\n" "$b" >> "$W/hashed"
      files=$((files + 1))
      if [ ! -f "$R$b" ]; then
        echo "DRIFT file $b missing"
        drift=$((drift + 1))
      elif [ "$(sha256sum < "$R$b" | cut -d" " -f1)" != "$a" ]; then
        echo "DRIFT file $b changed"
        drift=$((drift + 1))
      fi
      ;;
    F) case $a in /etc/sysctl.d/*) printf "%s\n" "$a" >> "$W/sysctl" ;; esac ;;
  esac
done < "$STATE"
untracked=$(grep -c "^F " "$STATE")
untracked=$((untracked - files))
[ "$untracked" -le 0 ] || echo "UNTRACKED $untracked"

# The live kernel settings against the mesh's sysctl.d files (a key this kernel lacks is skipped).
while read -r f; do
  [ -f "$R$f" ] || continue
  while IFS= read -r line; do
    case $line in "" | "#"* | ";"*) continue ;; esac
    key=$(printf "%s" "${line%%=*}" | tr -d "[:space:]")
    want=$(printf "%s" "${line#*=}" | tr -s "[:space:]" " " | sed "s/^ //; s/ $//")
    case $key in "" | *[!A-Za-z0-9._/-]*) continue ;; esac
    live=$(sysctl -n "$key" 2> /dev/null) || continue
    live=$(printf "%s" "$live" | tr -s "[:space:]" " " | sed "s/^ //; s/ $//")
    settings=$((settings + 1))
    if [ "$live" != "$want" ]; then
      echo "DRIFT sysctl $key $live => $want"
      drift=$((drift + 1))
    fi
  done < "$R$f"
done < "$W/sysctl"
echo "SUMMARY $drift $files $settings"

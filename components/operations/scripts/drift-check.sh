#!/bin/sh
# ipsec-mesh drift check: read-only, run on one host (as root) by `ipsec-mesh status --drift`
# and by the stack program during an `up` (drift-check.ts beside this folder). Compares what
# the last push installed with what the host has now:
#   - every file the push wrote, by the SHA-256 the push recorded in its state file;
#   - every kernel setting of the mesh's sysctl.d files, against /proc/sys.
# Changes nothing (it may create the empty lock file in /run), and runs few processes (one sha256sum, one awk): it runs on every host at
# every `up`. Output, one record per line (parsed by drift-check.ts):
#   DRIFT file <path> changed | missing
#   DRIFT sysctl <key> <live value> => <wanted value>
#   UNTRACKED <n>          files pushed by a release that recorded no hashes (not compared)
#   NOSTATE                no push of this mesh on this host
#   SUMMARY <drifted> <files compared> <settings compared>
#
# usage: sh drift-check.sh MESH [--root DIR]     (DIR: test hook, prefixes every path)
set -u
M=${1:-}
R=
case $M in "" | -* | *[!a-z0-9-]*) echo "ERROR mesh name must be a DNS label" >&2; exit 2 ;; esac
if [ "$#" = 3 ] && [ "$2" = --root ]; then R=$3; elif [ "$#" != 1 ]; then echo "ERROR usage: drift-check.sh MESH [--root DIR]" >&2; exit 2; fi
STATE=$R/etc/swanctl/.ipsec-mesh-state.$M
# A push holds this lock while it swaps files and rewrites its state file; reading between
# the two would report a push in progress as drift (and the stack program would push again).
# Shared: checks do not wait for each other, only for a push.
if [ -d "$R/run" ] && command -v flock >/dev/null 2>&1; then
  exec 9>>"$R/run/ipsec-mesh.lock" || { echo "ERROR cannot open $R/run/ipsec-mesh.lock" >&2; exit 2; }
  flock -s -w 300 9 || { echo "ERROR a push still holds $R/run/ipsec-mesh.lock after 300 s" >&2; exit 2; }
fi
if [ ! -f "$STATE" ]; then
  echo NOSTATE
  exit 0
fi

# The recorded files, hashed in one run (a missing one is reported by awk below).
set --
while read -r k _ b; do
  if [ "$k" = S ] && [ -f "$R$b" ]; then set -- "$@" "$R$b"; fi
done < "$STATE"
if [ "$#" -gt 0 ]; then hashes=$(sha256sum -- "$@"); else hashes=""; fi

printf "%s\n" "$hashes" | awk -v root="$R" -v state="$STATE" '
  function squeeze(s) { gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }
  # sha256sum lines: "<hash>  <path>"
  NF >= 2 { p = substr($0, index($0, "  ") + 2); have[p] = $1 }
  END {
    drift = 0; files = 0; settings = 0; fl = 0
    while ((getline line < state) > 0) {
      split(line, f, " ")
      if (f[1] == "F") fl++
      if (f[1] == "S") {
        files++
        p = root f[3]
        if (!(p in have)) { print "DRIFT file " f[3] " missing"; drift++ }
        else if (have[p] != f[2]) { print "DRIFT file " f[3] " changed"; drift++ }
      }
      if (f[1] == "F" && f[2] ~ /^\/etc\/sysctl\.d\//) sysctl[f[2]] = 1
    }
    if (fl > files) print "UNTRACKED " (fl - files)
    # The live kernel settings against the mesh sysctl.d files (a key this kernel lacks is skipped).
    for (file in sysctl) {
      path = root file
      while ((getline line < path) > 0) {
        if (line ~ /^[ \t]*([#;]|$)/ || index(line, "=") == 0) continue
        key = squeeze(substr(line, 1, index(line, "=") - 1))
        want = squeeze(substr(line, index(line, "=") + 1))
        if (key !~ /^[A-Za-z0-9._-]+$/) continue
        k = key
        gsub(/\./, "/", k)
        proc = root "/proc/sys/" k
        if ((getline live < proc) <= 0) { close(proc); continue }
        close(proc)
        live = squeeze(live)
        settings++
        if (live != want) { print "DRIFT sysctl " key " " live " => " want; drift++ }
      }
      close(path)
    }
    print "SUMMARY " drift " " files " " settings
  }'

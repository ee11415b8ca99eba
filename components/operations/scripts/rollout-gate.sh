#!/bin/sh
# ipsec-mesh rollout gate: installed by every push as /etc/swanctl/ipsec-mesh_<mesh>_gate.sh;
# run on one host right after its push in a staged rollout (components/mesh/rollout-plan.ts). Waits until every pair/family target on stdin is up
# (an ESTABLISHED IKE_SA, or an INSTALLED CHILD_SA), probing the ones that are not; at the
# deadline it exits 1 naming those still down, which stops `pulumi up` before the next wave.
# "Up" is what the liveness monitor the push installed reports, so the gate and the alerts
# agree. A target whose peer is in a later wave is checked only when this host had its
# connection before this push (the peer deployed it then): a new pair waits for its wave.
#
# stdin (components/delivery/rollout-gate.ts writes it):
#   ipsec-mesh-gate 1
#   H <host>
#   M <mesh>
#   L ike | child
#   W <seconds to wait>
#   P <digest of the push payload: only makes the gate run again after every push>
#   T <peer> <ipv4|ipv6> <connection> <peer address> <per-peer|compact> <earlier|later>
#   END <number of T lines>
#
# Runs as root under /bin/sh (POSIX). It contains no single quote (the other host scripts
# travel single-quoted; this one is kept to the same rule).
set -u
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
export PATH
H=ipsec-mesh-gate
R=
if [ "$#" -gt 0 ]; then
  # Test hook only: every on-host path is prefixed with DIR.
  if [ "$#" = 2 ] && [ "$1" = --root ]; then R=$2; else echo "$H: unexpected arguments: $*" >&2; exit 2; fi
fi
say() { printf "%s\n" "$H: $*" >&2; }
die() { say "$*"; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/ipsec-mesh-gate.XXXXXX") || die "cannot make a work directory"
# shellcheck disable=SC2317 # run by the trap
cleanup() { rm -rf "$W"; }
trap cleanup EXIT

label() { case $1 in "" | -* | *[!a-z0-9-]*) return 1 ;; esac; }
IFS= read -r line || die "no input on stdin"
[ "$line" = "ipsec-mesh-gate 1" ] || die "unexpected input (expected ipsec-mesh-gate 1)"
M=""
LEVEL=""
WAIT=""
n=0
ended=0
: > "$W/targets"
while IFS= read -r line; do
  set -f
  # shellcheck disable=SC2086 # word splitting of a checked record is the point
  set -- $line
  set +f
  case ${1:-} in
    H) if [ "$#" != 2 ] || ! label "$2"; then die "bad host line"; fi; H=$2 ;;
    M) if [ "$#" != 2 ] || ! label "$2"; then die "bad mesh line"; fi; M=$2 ;;
    L) [ "$#" = 2 ] || die "bad level line"; LEVEL=$2 ;;
    W) [ "$#" = 2 ] || die "bad wait line"; WAIT=$2 ;;
    P) [ "$#" = 2 ] || die "bad digest line" ;;
    T)
      [ "$#" = 7 ] || die "bad target line: $line"
      label "$2" || die "bad peer name in: $line"
      case $3 in ipv4 | ipv6) ;; *) die "bad family in: $line" ;; esac
      case $4 in "" | -* | *[!A-Za-z0-9_.-]*) die "bad connection name in: $line" ;; esac
      case $5 in "" | -* | *[!0-9A-Fa-f:.]*) die "bad address in: $line" ;; esac
      case $6 in per-peer | compact) ;; *) die "bad layout in: $line" ;; esac
      case $7 in earlier | later) ;; *) die "bad wave in: $line" ;; esac
      printf "%s %s %s %s %s %s\n" "$2" "$3" "$4" "$5" "$6" "$7" >> "$W/targets"
      n=$((n + 1)) ;;
    END)
      if [ "$#" != 2 ] || [ "$2" != "$n" ]; then die "input truncated: END ${2:-?}, found $n target(s)"; fi
      ended=1
      break ;;
    *) die "unexpected input line: $line" ;;
  esac
done
[ "$ended" = 1 ] || die "input truncated: no END line"
label "$M" || die "no mesh line"
case $LEVEL in
  ike) metric=ipsec_mesh_ike_established; what="an ESTABLISHED IKE_SA" ;;
  child) metric=ipsec_mesh_child_installed; what="an INSTALLED CHILD_SA" ;;
  *) die "level must be ike or child, got $LEVEL" ;;
esac
case $WAIT in "" | *[!0-9]*) die "wait must be whole seconds, got $WAIT" ;; esac

# A peer of a later wave has this pair only if it was deployed before: this host had it then.
: > "$W/check"
skipped=0
while read -r peer fam conn addr layout wave; do
  if [ "$wave" = later ] && ! grep -qxF "C $conn" "$R/etc/swanctl/.ipsec-mesh-before.$M" 2> /dev/null; then
    skipped=$((skipped + 1))
    continue
  fi
  printf "%s %s %s %s %s\n" "$peer" "$fam" "$conn" "$addr" "$layout" >> "$W/check"
done < "$W/targets"
checked=$(grep -c . "$W/check")
if [ "$checked" = 0 ]; then
  echo "$H: rollout gate: nothing to check yet ($skipped new pair/family target(s) wait for the wave of their peer)"
  exit 0
fi

MON=/etc/swanctl/ipsec-mesh_${M}_monitor.sh
[ -f "$R$MON" ] || die "rollout gate: no liveness monitor at $MON (installed by the push): cannot judge the wave"
mkdir "$W/m" || die "cannot make $W/m"
PROM=$W/m/ipsec_mesh_$M.prom
deadline=$(($(date +%s) + WAIT))
mode=--after-load
while :; do
  # The monitor judges every target the way the alerts do; --after-load retries at once.
  if [ -n "$R" ]; then
    /bin/sh "$R$MON" ${mode:+"$mode"} --textfile-dir "$W/m" --root "$R" > "$W/monitor.out" 2>&1
  else
    /bin/sh "$MON" ${mode:+"$mode"} --textfile-dir "$W/m" > "$W/monitor.out" 2>&1
  fi
  mode=
  : > "$W/down"
  while read -r peer fam conn addr layout; do
    grep -q "^$metric{mesh=\"$M\",peer=\"$peer\",family=\"$fam\",[^}]*} 1\$" "$PROM" 2> /dev/null ||
      printf "%s %s %s %s %s\n" "$peer" "$fam" "$conn" "$addr" "$layout" >> "$W/down"
  done < "$W/check"
  if [ ! -s "$W/down" ]; then
    waiting=""
    [ "$skipped" = 0 ] || waiting=" ($skipped new one(s) wait for the wave of their peer)"
    echo "$H: rollout gate passed: $checked pair/family target(s) with $what$waiting"
    exit 0
  fi
  [ "$(date +%s)" -lt "$deadline" ] || break
  # Probe what is down: a trap (require) connection negotiates only when traffic asks.
  while read -r peer fam conn addr layout; do
    if [ "$layout" = per-peer ]; then
      swanctl --initiate --ike "$conn" --child "$conn" --timeout 5 > /dev/null 2>&1 &
    else
      ping -c 1 -W 1 "$addr" > /dev/null 2>&1 &
    fi
  done < "$W/down"
  wait
  sleep 2
done
pairs=$(while read -r peer fam conn addr layout; do printf "%s~%s (%s) " "$H" "$peer" "$fam"; done < "$W/down")
say "rollout gate FAILED: after ${WAIT}s still without $what: ${pairs% }. The hosts of later waves were not pushed and keep their configuration; fix the inventory and run up again (docs/components.md, Staged rollout). Monitor: $(tail -n 3 "$W/monitor.out" | tr "\\n" " ")"
exit 1

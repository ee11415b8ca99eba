// The create/update command of one host's push: installs the payload read from stdin,
// reloads strongSwan (never restarts it), rolls back on failure, closes the SAs of
// connections the new config no longer has and of those it changed. See docs/delivery.md.
import { checkLabel } from './delivery-path.js';
import { PACKED_PAYLOAD_HEADER, PAYLOAD_MAGIC, PAYLOAD_VERSION } from './delivery-payload.js';
import { prologue, READ_STATE, remoteCommand, SWANCTL_LOAD, TERMINATE_SAS, WORKDIR } from './remote-shell.js';

export interface PushScriptOptions {
  readonly host: string;
  readonly mesh: string;
  /**
   * `create` for the Command's `create`, `update` for its `update`. A create counts one more
   * owner instance on the host (a replacement creates the new instance before deleting the
   * old one); the delete only removes files when the last instance goes.
   */
  readonly phase: 'create' | 'update';
}

// The payload parser (awk, POSIX): same checks as decodePayload. Writes $W/index
// ("F <n> <mode> <path>", "K <path>", "C <name>", "D <name> <fingerprint>") and $W/<n>.b64 per file.
const PARSE_AWK = `
function bad(msg) { if (!err) print "payload line " NR ": " msg > "/dev/stderr"; err = 1; exit 1 }
function okpath(p,   n, a, i) {
  if (p !~ /^\\/etc\\/(swanctl|strongswan\\.d|sysctl\\.d|systemd\\/system|logrotate\\.d)\\//) return 0
  if (p ~ /[^A-Za-z0-9._\\/-]/) return 0
  n = split(substr(p, 2), a, "/")
  for (i = 1; i <= n; i++) if (a[i] == "" || a[i] ~ /^[.]/) return 0
  if (p ~ /^\\/etc\\/systemd\\//) return n == 4 && a[n] ~ /^ipsec-mesh[A-Za-z0-9._-]*[.](service|timer)$/
  return a[n] ~ /^([0-9]-|[0-9][0-9]-|[0-9][0-9][0-9]-)?ipsec-mesh/
}
function once(p) { if (p in seen) bad("path " p " is listed twice"); seen[p] = 1 }
NR == 1 { if ($0 != "${PAYLOAD_MAGIC} ${PAYLOAD_VERSION}") bad("not an ipsec-mesh payload of version ${PAYLOAD_VERSION}"); next }
NR == 2 { if ($0 != "H " HOST) bad("the payload is for host " substr($0, 3) ", not " HOST); next }
NR == 3 { if ($0 != "M " MESH) bad("the payload is for mesh " substr($0, 3) ", not " MESH); next }
done { bad("data after END") }
want > 0 {
  if ($0 !~ /^[A-Za-z0-9+\\/=]+$/) bad("corrupt base64 inside " path)
  got += length($0)
  if (got > want) bad("base64 of " path " is longer than announced")
  print > out
  if (got == want) { close(out); want = 0 }
  next
}
$1 == "F" && NF == 4 {
  if ($2 !~ /^0[0-7][0-7][0-7]$/) bad("bad mode " $2)
  if (!okpath($3)) bad("refusing path " $3)
  if ($4 !~ /^[0-9]+$/) bad("bad length " $4)
  once($3)
  files++; records++
  path = $3; out = DIR "/" files ".b64"; want = $4 + 0; got = 0
  printf "" > out
  if (want == 0) close(out)
  print "F", files, $2, $3 > (DIR "/index")
  next
}
$1 == "K" && NF == 2 { if (!okpath($2)) bad("refusing path " $2); once($2); records++; print "K", $2 > (DIR "/index"); next }
$1 == "C" && NF == 2 {
  if ($2 !~ /^[A-Za-z0-9][A-Za-z0-9._-]*$/) bad("bad connection name " $2)
  records++; conns[$2] = 1; print "C", $2 > (DIR "/index"); next
}
$1 == "D" && NF == 3 {
  if (!($2 in conns)) bad("fingerprint for " $2 ", which is not a connection of the payload")
  if ($3 !~ /^[0-9a-f]+$/ || length($3) < 16 || length($3) > 128) bad("bad fingerprint for " $2)
  if ($2 in fps) bad("fingerprint of " $2 " is listed twice")
  fps[$2] = 1; records++; print "D", $2, $3 > (DIR "/index"); next
}
$1 == "END" && NF == 2 { if ($2 != (records + 0) "") bad("END announces " $2 " records, found " records + 0 ": truncated"); done = 1; next }
{ bad("unexpected line") }
END {
  if (err) exit 1
  if (!done) { print "payload truncated: no END line" > "/dev/stderr"; exit 1 }
}
`;

const PUSH_BODY = `
take_lock
${WORKDIR}
${TERMINATE_SAS}
${SWANCTL_LOAD}
command -v swanctl >/dev/null 2>&1 || die "swanctl not found: install strongswan-swanctl (or enable installPackages)"

# 1. Read and check the whole payload before touching anything.
cat > "$W/stdin" || die "cannot read the payload from stdin"
# Packed (gzip + base64, what ipsec-mesh sends) or plain. gzip is Essential on Debian; a corrupt
# or truncated packing fails the CRC and length check of gzip, the last command of the pipe.
if [ "$(head -n 1 "$W/stdin")" = "${PACKED_PAYLOAD_HEADER}" ]; then
  command -v gzip >/dev/null 2>&1 || die "gzip not found: it unpacks the payload; nothing changed"
  tail -n +2 "$W/stdin" | base64 -d 2> "$W/b64.err" | gzip -dc > "$W/payload" 2> "$W/gz.err" ||
    die "payload rejected, nothing changed: cannot unpack it ($(cat "$W/b64.err" "$W/gz.err" | tr "\\n" " "))"
  rm -f "$W/stdin"
else
  mv -f "$W/stdin" "$W/payload" || die "cannot read the payload from stdin"
fi
cat > "$W/parse.awk" <<"AWK"
${PARSE_AWK}
AWK
: > "$W/index"
awk -v HOST="$H" -v MESH="$M" -v DIR="$W" -f "$W/parse.awk" "$W/payload" 2> "$W/parse.err" ||
  die "payload rejected, nothing changed: $(cat "$W/parse.err")"
rm -f "$W/payload"
# systemd units (the timer of the liveness monitor) only where systemd runs; elsewhere they are
# neither installed nor recorded, so a later push on a systemd host installs them.
units_skipped=0
if ! systemd_up; then
  units_skipped=$(grep -c "^F [0-9]* [0-7]* /etc/systemd/system/" "$W/index")
  grep -v "^F [0-9]* [0-7]* /etc/systemd/system/" "$W/index" > "$W/index.units"; mv -f "$W/index.units" "$W/index"
fi
: > "$W/new.paths"; : > "$W/new.keep"; : > "$W/new.conns"; : > "$W/new.files"; : > "$W/new.fps"
while read -r k a b c; do
  case $k in
    F) printf "%s\\n" "$c" >> "$W/new.paths"; printf "%s %s %s\\n" "$a" "$b" "$c" >> "$W/new.files" ;;
    K) printf "%s\\n" "$a" >> "$W/new.paths"; printf "%s\\n" "$a" >> "$W/new.keep" ;;
    C) printf "%s\\n" "$a" >> "$W/new.conns" ;;
    D) printf "%s %s\\n" "$a" "$b" >> "$W/new.fps" ;;
  esac
done < "$W/index"
${READ_STATE}

# 2. A run that died half-way left backups: put them back first (its changes were never committed).
cat "$W/new.paths" "$W/old.paths" | sort -u > "$W/all.paths"
while read -r p; do
  b=$(bak_of "$p")
  if [ -e "$b" ] || [ -L "$b" ]; then mv -f "$b" "$R$p" && say "restored $p left by an interrupted run"; fi
  rm -f "$(tmp_of "$p")"
done < "$W/all.paths"

while read -r p; do
  [ -f "$R$p" ] || die "kept file $p is missing (it is made on the host, e.g. the host key: re-run that step); nothing changed"
done < "$W/new.keep"

# 3. Decode every file next to its destination (same directory: the rename is atomic).
: > "$W/changed"
unchanged=0
while read -r n mode p; do
  d=$R\${p%/*}
  [ -d "$d" ] || die "directory \${p%/*} does not exist (is strongSwan installed?); nothing changed"
  if [ -d "$R$p" ] && [ ! -L "$R$p" ]; then die "$p is a directory; nothing changed"; fi
  make_stage "$p" || die "cannot create $(stage_of "$p"); nothing changed"
  t=$(tmp_of "$p")
  printf "%s\\n" "$t" >> "$W/temps"
  base64 -d < "$W/$n.b64" > "$t" 2> "$W/b64.err" || die "cannot decode $p: $(cat "$W/b64.err"); nothing changed"
  chmod "$mode" "$t" || die "cannot chmod $p; nothing changed"
  if [ "$(id -u)" = 0 ]; then chown 0:0 "$t" || die "cannot chown $p; nothing changed"; fi
  if [ -f "$R$p" ] && [ ! -L "$R$p" ] && cmp -s "$t" "$R$p" &&
     [ "$(stat -c %a.%u.%g "$t")" = "$(stat -c %a.%u.%g "$R$p")" ]; then
    rm -f "$t"
    unchanged=$((unchanged + 1))
  else
    sync "$t" 2>/dev/null || sync
    printf "%s\\n" "$p" >> "$W/changed"
  fi
done < "$W/new.files"

# Owned files the previous push installed that this one neither carries nor keeps.
: > "$W/stale"
grep -vxF -f "$W/new.paths" "$W/old.paths" > "$W/old.only"
while read -r p; do
  shared "$p" || printf "%s\\n" "$p" >> "$W/stale"
done < "$W/old.only"

# Units of ours that go away (the monitor service, a timer of an older release, the backstop unit)
# are stopped and disabled while their unit file still exists (enabled again on a rollback).
: > "$W/disabled"
if systemd_up; then
  while read -r p; do
    case $p in /etc/systemd/system/*.timer|/etc/systemd/system/*_backstop.service|/etc/systemd/system/*_monitor.service)
      systemctl disable --now "\${p##*/}" > /dev/null 2>&1 && printf "%s\\n" "\${p##*/}" >> "$W/disabled" ;;
    esac
  done < "$W/stale"
fi
reenable_units() {
  while read -r u; do systemctl enable --now "$u" > /dev/null 2>&1; done < "$W/disabled"
}

# 4. Install: keep a backup of every file replaced or removed, journal every step.
: > "$W/journal"
rollback_files() {
  while read -r k p; do
    case $k in
      R|D) mv -f "$(bak_of "$p")" "$R$p" ;;
      N) rm -f "$R$p" ;;
    esac
  done < "$W/journal"
}
install_failed() { rollback_files; reenable_units; die "$1; previous files restored"; }
while read -r p; do
  b=$(bak_of "$p")
  if [ -L "$R$p" ]; then
    mv -f "$R$p" "$b" || install_failed "cannot back up $p"
    printf "R %s\\n" "$p" >> "$W/journal"
  elif [ -e "$R$p" ]; then
    ln "$R$p" "$b" || install_failed "cannot back up $p"
    printf "R %s\\n" "$p" >> "$W/journal"
  else
    printf "N %s\\n" "$p" >> "$W/journal"
  fi
  mv -f "$(tmp_of "$p")" "$R$p" || install_failed "cannot install $p"
done < "$W/changed"
removed=0
while read -r p; do
  if [ -e "$R$p" ] || [ -L "$R$p" ]; then
    make_stage "$p" && mv -f "$R$p" "$(bak_of "$p")" || install_failed "cannot remove $p"
    printf "D %s\\n" "$p" >> "$W/journal"
    removed=$((removed + 1))
  fi
done < "$W/stale"
sync 2>/dev/null

# Connections whose fingerprint changed (proposal, lifetimes, peer, certificate, CA, PSK):
# charon keeps a running IKE_SA on the configuration it was set up with, even across rekeys.
# The IKE_SAs they have now are closed after a successful load, so they renegotiate: a trap on
# the next packet, "use" by the monitor run below. Only these: an SA set up after the load
# already has the new configuration (charon re-initiates a changed start_action=start
# connection itself). A new connection has no previous fingerprint, an unchanged one the same:
# neither is touched.
ike_ids() {
  swanctl --list-sas --raw 2>/dev/null |
    sed -n "s/^list-sa event {\\([A-Za-z0-9._-]*\\) {uniqueid=\\([0-9][0-9]*\\)[ }].*/\\1 \\2/p" |
    awk "NR == FNR { want[\\$1] = 1; next } (\\$1 in want)" "$1" -
}
LC_ALL=C sort -k1,1 "$W/old.fps" > "$W/old.fps.s"
LC_ALL=C sort -k1,1 "$W/new.fps" > "$W/new.fps.s"
LC_ALL=C join "$W/old.fps.s" "$W/new.fps.s" > "$W/both.fps"
: > "$W/changed.conns"; : > "$W/renew.ids"
while read -r c o n; do [ "$o" = "$n" ] || printf "%s\\n" "$c" >> "$W/changed.conns"; done < "$W/both.fps"
if [ -s "$W/changed.conns" ]; then ike_ids "$W/changed.conns" > "$W/renew.ids"; fi

# 5. Apply: strongSwan settings (when a drop-in changed), every swanctl config, our sysctl files.
settings=0
if grep -q "^[RND] /etc/strongswan.d/" "$W/journal"; then settings=1; fi
# A credential replaced or removed: clear the credentials charon holds before reloading them
# from the files, or the old certificate (e.g. a retired CA) stays loaded. Adding one needs no
# clear, except when rolling back (the failed load may have loaded it).
clear=
clear_rollback=
while read -r k p; do
  if cred_path "$p"; then
    clear_rollback=--clear
    case $k in R|D) clear=--clear ;; esac
  fi
done < "$W/journal"
# The require backstop (nftables): the new table before the new traps, so a new require peer is
# never reachable in cleartext between the two. $1: the backstop file to load (none: this
# mesh has no table), $2: the one of the configuration being left (its table is deleted).
apply_backstop() {
  if [ -n "$1" ] && [ -f "$R$1" ]; then
    command -v nft >/dev/null 2>&1 || { echo "nft not found: the require backstop needs nftables (apt-get install nftables)" >> "$W/apply.out"; return 1; }
    nft -f "$R$1" >> "$W/apply.out" 2>&1 || { echo "nft -f $1 failed" >> "$W/apply.out"; return 1; }
  elif [ -n "$2" ] && command -v nft >/dev/null 2>&1; then
    nft delete table "$NFT_TABLE" > /dev/null 2>&1 || true
  fi
  return 0
}
apply() {
  : > "$W/apply.out"
  apply_backstop "$2" "$3" || return 1
  if [ "$settings" = 1 ]; then
    swanctl_ok swanctl --reload-settings || { echo "swanctl --reload-settings failed" >> "$W/apply.out"; return 1; }
  fi
  swanctl_ok swanctl --load-all --noprompt $clear || return 1
  for p in $1; do
    [ -f "$R$p" ] || continue
    if ! sysctl -p "$R$p" > /dev/null 2> "$W/sysctl.err"; then
      if grep -v "cannot stat /proc/sys/" "$W/sysctl.err" | grep -q .; then
        cat "$W/sysctl.err" >> "$W/apply.out"; return 1
      fi
      # A key this kernel does not have (e.g. xfrm4_gc_thresh on some kernels): tuning only.
      say "warning: $(tr "\\n" " " < "$W/sysctl.err")"
    fi
  done
  return 0
}
sysctl_new=$(grep "^/etc/sysctl.d/" "$W/new.paths")
backstop_new=$(grep "_backstop[.]nft$" "$W/new.paths")
backstop_old=$(grep "_backstop[.]nft$" "$W/old.paths")
if ! apply "$sysctl_new" "$backstop_new" "$backstop_old"; then
  cp "$W/apply.out" "$W/failed.out"
  rollback_files
  reenable_units
  clear=$clear_rollback
  sysctl_old=$(grep "^/etc/sysctl.d/" "$W/old.paths")
  if apply "$sysctl_old" "$backstop_old" "$backstop_new"; then again="the previous configuration was restored and reloaded"
  else again="the previous configuration was restored, but reloading it failed too (see its messages below)"; fi
  cp "$W/apply.out" "$W/rollback.out"
  say "applying the new configuration failed; $again. strongSwan said:"
  cp "$W/failed.out" "$W/apply.out"; report_apply
  case $again in *"failed too"*) say "reloading the previous configuration:"; cp "$W/rollback.out" "$W/apply.out"; report_apply ;; esac
  exit 1
fi

# 6. Commit: drop the backups, record what this mesh owns now.
while read -r k p; do
  case $k in R|D) rm -f "$(bak_of "$p")" ;; esac
done < "$W/journal"
n=$old_n
case $PHASE in
  create) n=$((old_n + 1)) ;;
  update) [ "$n" -gt 0 ] || n=1 ;;
esac
# The connections this host had before this push and still has, for the rollout gate: a pair
# this host already had is one its peer has deployed too, so the gate may check it even when
# the wave of the peer comes later. Nothing of a removed peer stays in it.
# (Not named .ipsec-mesh-state.*: those are the meshes of this host, see shared.)
BEFORE=$R/etc/swanctl/.ipsec-mesh-before.$M
grep -xF -f "$W/new.conns" "$W/old.conns" | sed "s/^/C /" > "$BEFORE.new"
mv -f "$BEFORE.new" "$BEFORE" || die "files applied, but $BEFORE could not be written"
{
  echo "ipsec-mesh-state 1"
  echo "N $n"
  while read -r k a b c; do
    # S: the content hash the drift check compares (scripts/drift-check.sh).
    case $k in
      F) echo "F $c"; printf "S %s %s\\n" "$(sha256sum < "$R$c" | cut -d" " -f1)" "$c" ;;
      K) echo "K $a" ;; C) echo "C $a" ;; D) echo "D $a $b" ;;
    esac
  done < "$W/index"
} > "$STATE.new" && mv -f "$STATE.new" "$STATE" || die "files applied, but the state file $STATE could not be written"

# 7. SAs of mesh connections this config no longer has: a removed trap connection leaves its SA running.
grep -vxF -f "$W/new.conns" "$W/old.conns" > "$W/gone.conns"
terminate_sas "$W/gone.conns"
orphans=$terminated
# IKE_SAs of changed connections that were up before the load (old configuration), one
# connection at a time, make before break: a per-peer connection first gets a new IKE_SA and
# CHILD_SA on the new configuration (the kernel sends on the newest SA), then the old ones are
# closed, so traffic never waits for a negotiation. Compact connections (many peers) and a
# make that fails are closed all the same: the old configuration must go. Both ends of a pair
# may renew at once and leave two new IKE_SAs: the end whose name sorts first keeps the newest.
renewed=0
made=0
if [ -s "$W/renew.ids" ]; then
  ike_ids "$W/changed.conns" > "$W/renew.now"
  cut -d" " -f1 "$W/renew.ids" | LC_ALL=C sort -u > "$W/renew.conns"
  while read -r c; do
    rest=\${c#"$M"_}; peer=\${rest%_v[46]}
    [ "$peer" = "$rest" ] && peer= # compact: <mesh>_v4, no peer in the name
    if [ -n "$peer" ]; then
      if swanctl --initiate --ike "$c" --child "$c" --timeout 10 > "$W/make.out" 2>&1; then
        made=$((made + 1))
      else
        say "could not set up a new IKE_SA for $c before closing the old one (traffic waits for the next negotiation): $(tail -n 1 "$W/make.out")"
      fi
    fi
    while read -r cc id; do
      [ "$cc" = "$c" ] || continue
      grep -qxF "$c $id" "$W/renew.now" || continue
      if swanctl --terminate --ike-id "$id" --force > "$W/terminate.out" 2>&1; then
        renewed=$((renewed + 1))
      else
        say "could not terminate IKE_SA $id of $c: $(tr "\\n" " " < "$W/terminate.out")"
      fi
    done < "$W/renew.ids"
    if [ -n "$peer" ] && awk "BEGIN { exit !(ARGV[1] < ARGV[2]) }" "$H" "$peer"; then
      printf "%s\\n" "$c" > "$W/one.conn"
      ike_ids "$W/one.conn" | sort -k2,2n | sed "\\$d" | while read -r cc id; do
        swanctl --terminate --ike-id "$id" --force > /dev/null 2>&1 || :
      done
    fi
  done < "$W/renew.conns"
fi

# 8. Units: reload systemd when one changed; the monitor service enabled and running.
[ "$units_skipped" -gt 0 ] && say "systemd is not running: $units_skipped unit file(s) not installed (the monitor runs only after each push)"
if systemd_up; then
  if grep -q "^[RND] /etc/systemd/system/" "$W/journal"; then
    systemctl daemon-reload > "$W/systemctl.out" 2>&1 || say "warning: systemctl daemon-reload failed: $(tr "\\n" " " < "$W/systemctl.out")"
  fi
  while read -r n mode p; do
    case $p in
      # Restarted when its unit changed; otherwise started if it is not running (a changed
      # script needs nothing: every run reads it afresh).
      /etc/systemd/system/*_monitor.service)
        if grep -qxF "R $p" "$W/journal" || grep -qxF "N $p" "$W/journal"; then act=restart; else act=start; fi
        { systemctl enable "\${p##*/}" && systemctl "$act" "\${p##*/}"; } > "$W/systemctl.out" 2>&1 ||
          say "warning: cannot enable and $act \${p##*/}: $(tr "\\n" " " < "$W/systemctl.out")" ;;
      # Loaded by the push already: enabled for the next boot only (no --now, nothing to run).
      /etc/systemd/system/*_backstop.service)
        systemctl enable "\${p##*/}" > "$W/systemctl.out" 2>&1 || say "warning: cannot enable \${p##*/}: $(tr "\\n" " " < "$W/systemctl.out")" ;;
    esac
  done < "$W/new.files"
fi

# 9. Run the liveness monitor once now: it re-initiates the "use" connections this host starts
# that are not up (a peer that had not loaded its side yet refused them: NO_PROPOSAL_CHOSEN,
# never retried by charon), and, for those it only answers, starts one attempt itself.
MON=/etc/swanctl/ipsec-mesh_\${M}_monitor.sh
if grep -qxF "$MON" "$W/new.paths" && [ -f "$R$MON" ]; then
  if [ -n "$R" ]; then /bin/sh "$R$MON" --after-load --root "$R" > "$W/monitor.out" 2>&1
  else /bin/sh "$MON" --after-load > "$W/monitor.out" 2>&1; fi
  cat "$W/monitor.out" >&2
elif grep -qxF "$MON" "$W/old.paths"; then
  monitor_cleanup
fi

changed=$(grep -c . "$W/changed")
conns=$(grep -c . "$W/new.conns")
loaded=$(grep "^successfully loaded" "$W/apply.out" | tr "\\n" ";" | sed "s/;$//")
if [ -n "$backstop_new" ]; then backstop="require backstop loaded ($NFT_TABLE)"; else backstop="no require backstop"; fi
echo "$H: mesh $M: $changed file(s) written, $unchanged unchanged, $removed removed; $conns connection(s) configured; $backstop; $orphans orphaned IKE_SA(s) closed; $renewed IKE_SA(s) of $(grep -c . "$W/changed.conns") changed connection(s) closed ($made new first); strongSwan reloaded ($loaded)"
`;

/** The command string of a push (create or update). Deterministic; contains no secret. */
export function pushScript(opts: PushScriptOptions): string {
  checkLabel(opts.host, 'host name', opts.host);
  checkLabel(opts.host, 'mesh name', opts.mesh);
  const script = `${prologue(opts.host, opts.mesh, `push (${opts.phase})`)}PHASE=${opts.phase}\n${PUSH_BODY}`;
  return remoteCommand(opts.host, 'push', script);
}

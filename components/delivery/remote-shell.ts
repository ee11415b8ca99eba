// How a delivery script becomes one `remote.Command` command string, and the shell helpers
// every script shares.
//
// The command the SSH user's login shell parses is one simple command:
//
//   /bin/sh -c '<bootstrap>' ipsec-mesh-<kind> '<script, gzip + base64>'
//
// The script travels packed (packed-text.ts: gzip by fflate, base64): the command provider stores every
// command string in state twice (input and output), for every host, and packed they weigh
// under half (docs/benchmarks.md, *State*). The bootstrap unpacks it with base64 and gzip
// (both Essential on Debian) and runs it as root: directly when the user is root, else through
// `sudo -n /bin/sh -c …` (no PTY is available over remote.Command, so only passwordless
// sudo can work; anything else fails with a clear message). The script text travels as an
// argument and the payload on stdin: stdin stays free for secrets, and no secret is ever
// part of the command string. Single quotes are the only quoting, so a script must not
// contain one (checked at build time). Extra trailing arguments (`--root DIR`) are a test
// hook that prefixes every on-host path; production commands never carry them.
import { backstopTable } from '../render/backstop-nft.js';
import { DeliveryError } from './delivery-error.js';
import { packText, unpackText } from './packed-text.js';

export type ScriptKind = 'push' | 'remove' | 'host-key' | 'remove-host-key' | 'install-packages' | 'gate';

function singleQuoted(host: string, text: string): string {
  if (text.includes("'")) {
    // Would end the quoting early: a bug in this module, never user input (names are validated).
    throw new DeliveryError(host, 'internal error: a delivery script contains a single quote');
  }
  return `'${text}'`;
}

function bootstrap(host: string): string {
  return [
    `s=$(printf "%s" "$1" | base64 -d | gzip -dc) || { echo "${host}: cannot unpack the ipsec-mesh script (base64, gzip)" >&2; exit 1; }`,
    'shift',
    'if [ "$(id -u)" = 0 ]; then exec /bin/sh -c "$s" ipsec-mesh "$@"; fi',
    'if ! command -v sudo >/dev/null 2>&1; then',
    `  echo "${host}: user $(id -un) is not root and sudo is not installed; ipsec-mesh needs root or passwordless sudo (NOPASSWD)" >&2; exit 1`,
    'fi',
    'if ! e=$(sudo -n /bin/sh -c : 2>&1 </dev/null); then',
    `  echo "${host}: user $(id -un) needs passwordless sudo (NOPASSWD) for ipsec-mesh; no PTY is available (sudo: $e)" >&2; exit 1`,
    'fi',
    'exec sudo -n /bin/sh -c "$s" ipsec-mesh "$@"',
  ].join('\n');
}

/** Wraps a script body into the command string a remote.Command runs. */
export function remoteCommand(host: string, kind: ScriptKind, script: string): string {
  // The script stays free of single quotes, so it could travel plain too (and reads the same).
  singleQuoted(host, script);
  return `/bin/sh -c ${singleQuoted(host, bootstrap(host))} ipsec-mesh-${kind} '${packText(script)}'`;
}

/** The script a remoteCommand string carries (for tests, reviews and tools). */
export function scriptOfCommand(command: string): string {
  const m = /' ipsec-mesh-[a-z-]+ '([A-Za-z0-9+/=]+)'(?: |$)/.exec(command);
  if (m?.[1] === undefined) throw new DeliveryError('<command>', 'not an ipsec-mesh command string');
  return unpackText(m[1]);
}

/**
 * The prologue of every script: strict-ish shell, private umask, the `--root` test hook,
 * messages prefixed with the host name, the machine-wide lock, path ownership checks.
 * `H` (host) and `M` (mesh) are validated DNS labels, safe unquoted.
 */
export function prologue(host: string, mesh: string, purpose: string): string {
  return `# ipsec-mesh ${purpose} - host ${host}, mesh ${mesh}. Runs as root under /bin/sh (POSIX).
set -u
umask 077
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
export PATH
H=${host}
M=${mesh}
R=
if [ "$#" -gt 0 ]; then
  # Test hook only: every on-host path is prefixed with DIR.
  if [ "$#" = 2 ] && [ "$1" = --root ]; then R=$2; else echo "$H: unexpected arguments: $*" >&2; exit 2; fi
fi
STATE=$R/etc/swanctl/.ipsec-mesh-state.$M
NFT_TABLE="${backstopTable(mesh)}"
say() { printf "%s\\n" "$H: $*" >&2; }
die() { say "$*"; exit 1; }
# One ipsec-mesh run at a time on a host, whatever the mesh: every run reloads strongSwan.
take_lock() {
  if [ -d "$R/run" ] && command -v flock >/dev/null 2>&1; then
    exec 9>"$R/run/ipsec-mesh.lock" || die "cannot open $R/run/ipsec-mesh.lock"
    flock -w 300 9 || die "another ipsec-mesh run still holds $R/run/ipsec-mesh.lock after 300 s"
  fi
}
# An ipsec-mesh path: below an allowed root, plain components (none hidden, so no . or ..),
# base name [NN-]ipsec-mesh*.
owned_path() {
  case $1 in /etc/swanctl/*|/etc/strongswan.d/*|/etc/sysctl.d/*|/etc/logrotate.d/*) ;; /etc/systemd/system/*) unit_path "$1"; return ;; *) return 1 ;; esac
  case $1 in *[!A-Za-z0-9._/-]*|*//*|*/.*) return 1 ;; esac
  case \${1##*/} in ipsec-mesh*|[0-9]-ipsec-mesh*|[0-9][0-9]-ipsec-mesh*|[0-9][0-9][0-9]-ipsec-mesh*) return 0 ;; esac
  return 1
}
# A systemd unit of ours: directly in /etc/systemd/system, ipsec-mesh*.service or .timer.
unit_path() {
  case $1 in /etc/systemd/system/*/*|*[!A-Za-z0-9._/-]*) return 1 ;; esac
  case \${1##*/} in ipsec-mesh*.service|ipsec-mesh*.timer) return 0 ;; esac
  return 1
}
# Units are installed and enabled only where systemd runs (not in containers without it).
systemd_up() { [ -d "$R/run/systemd/system" ] && command -v systemctl >/dev/null 2>&1; }
# Working state of the liveness monitor and the metrics file it last wrote (docs/operations.md).
monitor_cleanup() {
  md=$R/run/ipsec-mesh_\${M}_monitor
  if [ -f "$md/metrics-dir" ]; then
    d=$(head -n 1 "$md/metrics-dir")
    case $d in /*) case $d in *[!A-Za-z0-9._/-]*|*/../*|*/..) ;; *) rm -f "$R$d/ipsec_mesh_$M.prom" ;; esac ;; esac
  fi
  rm -rf "$md"
}
# Listed by another mesh on this host (e.g. the host-wide charon drop-in): not ours alone to remove.
shared() {
  for f in "$R"/etc/swanctl/.ipsec-mesh-state.*; do
    [ -f "$f" ] && [ "$f" != "$STATE" ] || continue
    if grep -qxF "F $1" "$f" || grep -qxF "K $1" "$f"; then return 0; fi
  done
  return 1
}
conn_name() {
  case $1 in ""|[!A-Za-z0-9]*|*[!A-Za-z0-9._-]*) return 1 ;; esac
  return 0
}
# New versions and backups wait in a private (0700) staging directory under the same root:
# same filesystem, so the rename into place is atomic, and out of every directory strongSwan
# or sysctl read (swanctl loads EVERY file of x509/, private/…, hidden ones included).
stage_of() {
  case $1 in
    /etc/swanctl/*) printf "%s\\n" "$R/etc/swanctl/.ipsec-mesh-stage" ;;
    /etc/strongswan.d/*) printf "%s\\n" "$R/etc/strongswan.d/.ipsec-mesh-stage" ;;
    /etc/sysctl.d/*) printf "%s\\n" "$R/etc/sysctl.d/.ipsec-mesh-stage" ;;
    /etc/systemd/system/*) printf "%s\\n" "$R/etc/systemd/system/.ipsec-mesh-stage" ;;
    /etc/logrotate.d/*) printf "%s\\n" "$R/etc/logrotate.d/.ipsec-mesh-stage" ;;
  esac
}
tmp_of() { printf "%s\\n" "$(stage_of "$1")/new$(printf "%s" "$1" | tr / +)"; }
bak_of() { printf "%s\\n" "$(stage_of "$1")/old$(printf "%s" "$1" | tr / +)"; }
make_stage() { mkdir -p "$(stage_of "$1")"; }
drop_stages() {
  for d in /etc/swanctl /etc/strongswan.d /etc/sysctl.d /etc/systemd/system /etc/logrotate.d; do rmdir "$R$d/.ipsec-mesh-stage" 2>/dev/null; done
  return 0
}
`;
}

/**
 * Reads the mesh's state file (written by the last successful push) into
 * $W/old.paths (F and K), $W/old.keep (K), $W/old.conns, $W/old.fps ("<name> <fingerprint>")
 * and $old_n (instance count). A state file of an older version has no D lines: no fingerprint.
 */
export const READ_STATE = `
old_n=0
: > "$W/old.paths"; : > "$W/old.keep"; : > "$W/old.conns"; : > "$W/old.fps"
if [ -f "$STATE" ]; then
  while read -r k v; do
    case $k in
      N) case $v in ""|*[!0-9]*) ;; *) old_n=$v ;; esac ;;
      F) if owned_path "$v"; then printf "%s\\n" "$v" >> "$W/old.paths"; fi ;;
      K) if owned_path "$v"; then printf "%s\\n" "$v" >> "$W/old.paths"; printf "%s\\n" "$v" >> "$W/old.keep"; fi ;;
      C) if conn_name "$v"; then printf "%s\\n" "$v" >> "$W/old.conns"; fi ;;
      D)
        case $v in *" "*) fn=\${v%% *}; fv=\${v#* } ;; *) fn=; fv= ;; esac
        case $fv in ""|*[!0-9a-f]*) ;; *) if conn_name "$fn"; then printf "%s %s\\n" "$fn" "$fv" >> "$W/old.fps"; fi ;; esac ;;
    esac
  done < "$STATE"
fi
`;

/**
 * Terminates the IKE_SAs of every connection named in the file $1 (one per line), without
 * waiting for the peer (a DELETE is still sent). Counts them in $terminated. One listing of
 * all SAs, then one terminate per name that has any: cheap with thousands of connections.
 */
export const TERMINATE_SAS = `
terminate_sas() {
  terminated=0
  [ -s "$1" ] || return 0
  swanctl --list-sas --raw 2>/dev/null | sed -n "s/^list-sa event {\\([A-Za-z0-9._-]*\\) {.*/\\1/p" > "$W/sa.names"
  grep -xF -f "$1" "$W/sa.names" | sort | uniq -c > "$W/sa.gone"
  while read -r n c; do
    if swanctl --terminate --ike "$c" --force > "$W/terminate.out" 2>&1; then
      terminated=$((terminated + n))
    else
      say "could not terminate the IKE_SAs of $c: $(tr "\\n" " " < "$W/terminate.out")"
    fi
  done < "$W/sa.gone"
}
`;

/**
 * strongSwan reload helpers. swanctl exits 0 on a config file it cannot parse: it reports
 * "invalid config file" and goes on as if the config were EMPTY, unloading everything
 * (checked on 5.9.8). So success is: exit 0 and no "failed"/"invalid config file" line
 * (the noise of plugins swanctl cannot load aside). Output accumulates in $W/apply.out.
 */
export const SWANCTL_LOAD = `
swanctl_ok() {
  "$@" >> "$W/apply.out" 2>&1 || return 1
  if grep -v "^plugin .*: failed to load - " "$W/apply.out" | grep -Eq "invalid config file|failed"; then return 1; fi
  return 0
}
# A credential file (certificate, key): charon keeps a loaded certificate in memory after its
# file is gone, until credentials are cleared (swanctl --load-all --clear).
cred_path() {
  case $1 in /etc/swanctl/conf.d/*|/etc/swanctl/swanctl.conf) return 1 ;; /etc/swanctl/*/*) return 0 ;; esac
  return 1
}
# strongSwan messages of the last reload, each line prefixed with the host name.
report_apply() {
  grep -v "^plugin .*: failed to load - " "$W/apply.out" | sed "s/^/$H: /" >&2
}
`;

/** A private scratch directory (on tmpfs /run when there is one), removed on exit. */
export const WORKDIR = `
W=$(mktemp -d "$R/run/ipsec-mesh.XXXXXX" 2>/dev/null || mktemp -d) || die "cannot create a scratch directory"
: > "$W/temps"
cleanup() {
  while read -r t; do rm -f "$t"; done < "$W/temps"
  rm -rf "$W"
  drop_stages
}
trap cleanup EXIT
trap "exit 130" INT
trap "exit 143" TERM
# A dropped SSH connection must not stop a run half-way: output is informative only.
trap "" HUP PIPE
`;

// Optional prerequisite (off by default in the components): the strongSwan packages on a
// Debian/Ubuntu host, and a running charon that speaks vici.
//
// Daemon choice: `charon-systemd` (its `strongswan.service` runs /usr/sbin/charon-systemd,
// which has vici and runs `swanctl --load-all` at start). Not `strongswan-charon`: it depends
// on strongswan-starter, the legacy ipsec.conf daemon. When some charon already runs (its vici
// socket exists, e.g. strongswan-starter's), charon-systemd is not installed and nothing is
// started or restarted: two IKE daemons cannot share ports 500/4500.
import { checkLabel } from './delivery-path.js';
import { remoteCommand } from './remote-shell.js';

/** What swanctl-based ipsec-mesh needs (DOMAIN.md); `charon-systemd` is added only when no charon runs. */
export const STRONGSWAN_PACKAGES = [
  'strongswan-swanctl',
  'libcharon-extra-plugins',
  'libstrongswan-standard-plugins',
  'strongswan-pki',
  // nft: the kernel backstop of `require` pairs (docs/render.md, "Fail closed").
  'nftables',
] as const;
export const DAEMON_PACKAGE = 'charon-systemd';
export const DAEMON_UNIT = 'strongswan.service';

export interface InstallPackagesOptions {
  readonly host: string;
}

export function installPackagesScript(opts: InstallPackagesOptions): string {
  checkLabel(opts.host, 'host name', opts.host);
  const script = `# ipsec-mesh install packages - host ${opts.host}. Runs as root under /bin/sh (POSIX).
set -u
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
export PATH
H=${opts.host}
R=
if [ "$#" -gt 0 ]; then
  # Test hook only: every on-host path is prefixed with DIR.
  if [ "$#" = 2 ] && [ "$1" = --root ]; then R=$2; else echo "$H: unexpected arguments: $*" >&2; exit 2; fi
fi
say() { printf "%s\\n" "$H: $*" >&2; }
die() { say "$*"; exit 1; }
cat > /dev/null
command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1 ||
  die "installPackages supports Debian and Ubuntu (apt) only; install strongSwan yourself"
running=0
if [ -S "$R/run/charon.vici" ] || [ -S "$R/var/run/charon.vici" ]; then running=1; fi
want="${STRONGSWAN_PACKAGES.join(' ')}"
if [ "$running" = 0 ]; then want="$want ${DAEMON_PACKAGE}"; fi
missing=
for p in $want; do
  dpkg-query -s "$p" 2>/dev/null | grep -qx "Status: install ok installed" || missing="$missing $p"
done
out=$(mktemp) || die "cannot create a temporary file"
trap "rm -f $out" EXIT
if [ -n "$missing" ]; then
  DEBIAN_FRONTEND=noninteractive
  export DEBIAN_FRONTEND
  apt-get update -q > "$out" 2>&1 || die "apt-get update failed: $(tail -n 5 "$out" | tr "\\n" " ")"
  apt-get install -y -q --no-install-recommends $missing > "$out" 2>&1 ||
    die "apt-get install$missing failed: $(tail -n 5 "$out" | tr "\\n" " ")"
  echo "$H: installed$missing"
else
  echo "$H: strongSwan packages already installed"
fi
if [ "$running" = 1 ]; then
  echo "$H: charon is running; left as it is"
elif command -v systemctl >/dev/null 2>&1; then
  # enable --now starts a stopped unit and leaves a running one alone: never a restart.
  systemctl enable --now ${DAEMON_UNIT} > "$out" 2>&1 || die "systemctl enable --now ${DAEMON_UNIT} failed: $(tr "\\n" " " < "$out")"
  echo "$H: ${DAEMON_UNIT} enabled and started"
else
  die "no charon is running and there is no systemd to start ${DAEMON_UNIT}: start charon yourself"
fi
`;
  return remoteCommand(opts.host, 'install-packages', script);
}

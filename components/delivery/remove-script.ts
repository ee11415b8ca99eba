// The delete command of one host's push: removes what this mesh installed (as recorded by
// the last successful push), unloads its connections by reloading strongSwan, and closes
// their SAs. Everything else on the host stays as it was.
//
// Replacement safety: Pulumi replaces a resource by creating the new instance before
// deleting the old one. Each successful `create` push counts one more instance in the state
// file; this delete only counts one down while another instance remains, and removes
// nothing. So the old instance's delete never undoes what the new create wrote.
import { checkLabel } from './delivery-path.js';
import { prologue, READ_STATE, remoteCommand, SWANCTL_LOAD, TERMINATE_SAS, WORKDIR } from './remote-shell.js';

export interface RemoveScriptOptions {
  readonly host: string;
  readonly mesh: string;
}

const REMOVE_BODY = `
# remote.Command also sends the resource stdin to its delete: drain it, it is not used.
cat > /dev/null
take_lock
${WORKDIR}
${TERMINATE_SAS}
${SWANCTL_LOAD}
if [ ! -f "$STATE" ]; then
  echo "$H: mesh $M: nothing recorded on this host; nothing to remove"
  exit 0
fi
${READ_STATE}
if [ "$old_n" -gt 1 ]; then
  # Another instance (a replacement created before this delete) still owns the files.
  sed "s/^N .*/N $((old_n - 1))/" "$STATE" > "$STATE.new" && mv -f "$STATE.new" "$STATE" ||
    die "cannot update $STATE"
  echo "$H: mesh $M: $((old_n - 1)) other instance(s) still own the files; nothing removed"
  exit 0
fi

settings=0
clear=
removed=0
units=0
# The monitor service stops before its files go (systemctl needs the unit file to disable it).
if systemd_up; then
  while read -r p; do
    case $p in
      /etc/systemd/system/*.timer|/etc/systemd/system/*_backstop.service|/etc/systemd/system/*_monitor.service) systemctl disable --now "\${p##*/}" > /dev/null 2>&1 ;;
      /etc/systemd/system/*.service) systemctl stop "\${p##*/}" > /dev/null 2>&1 ;;
    esac
  done < "$W/old.paths"
fi
while read -r p; do
  case $p in /etc/systemd/system/*) units=1 ;; esac
  case $p in /etc/strongswan.d/*) settings=1 ;; esac
  if cred_path "$p"; then clear=--clear; fi
  rm -f "$(tmp_of "$p")" "$(bak_of "$p")"
  if shared "$p"; then say "$p is also used by another mesh on this host; kept"; continue; fi
  if [ -e "$R$p" ] || [ -L "$R$p" ]; then
    rm -f "$R$p" || die "cannot remove $p"
    removed=$((removed + 1))
  fi
done < "$W/old.paths"

# Unload: swanctl unloads the connections and secrets whose files are gone.
if command -v swanctl >/dev/null 2>&1; then
  : > "$W/apply.out"
  ok=1
  if [ "$settings" = 1 ]; then swanctl_ok swanctl --reload-settings || ok=0; fi
  swanctl_ok swanctl --load-all --noprompt $clear || ok=0
  if [ "$ok" = 0 ]; then
    if grep -q "^connecting to .* failed" "$W/apply.out"; then
      say "charon is not running: nothing is loaded, nothing to unload"
    else
      say "files removed, but reloading strongSwan failed (the state file is kept, a re-run retries). strongSwan said:"
      report_apply
      exit 1
    fi
  fi
  terminate_sas "$W/old.conns"
else
  terminated=0
fi
if [ "$units" = 1 ] && systemd_up; then systemctl daemon-reload > /dev/null 2>&1; fi
# The require backstop goes last, after the connections are unloaded and their SAs closed.
if grep -q "_backstop[.]nft$" "$W/old.paths" && command -v nft >/dev/null 2>&1; then
  nft delete table "$NFT_TABLE" > /dev/null 2>&1 || true
fi
if grep -qxF "/etc/swanctl/ipsec-mesh_\${M}_monitor.sh" "$W/old.paths"; then monitor_cleanup; fi
rm -f "$STATE" "$R/etc/swanctl/.ipsec-mesh-before.$M" || die "cannot remove $STATE"
echo "$H: mesh $M: $removed file(s) removed; connections unloaded; $terminated IKE_SA(s) closed (sysctl values stay until reboot)"
`;

/** The command string of a push's delete. Deterministic; contains no secret; ignores stdin. */
export function removeScript(opts: RemoveScriptOptions): string {
  checkLabel(opts.host, 'host name', opts.host);
  checkLabel(opts.host, 'mesh name', opts.mesh);
  return remoteCommand(opts.host, 'remove', `${prologue(opts.host, opts.mesh, 'remove')}${REMOVE_BODY}`);
}

// Certificate mode keeps each host's private key on the host: it never crosses the network
// and never lands in Pulumi state. This command makes the key (once per generation) and
// prints a CSR for the host's names on stdout; the components sign it with the mesh CA
// (@pulumi/tls LocallySignedCert copies subject and SANs from the CSR) and push the
// certificate, listing the key path in the push's `keep`.
import ipaddr from 'ipaddr.js';
import { DeliveryError } from './delivery-error.js';
import { checkLabel, hostCsrPath, hostKeyPath } from './delivery-path.js';
import { prologue, READ_STATE, remoteCommand, WORKDIR } from './remote-shell.js';

export interface HostKeyScriptOptions {
  readonly host: string;
  readonly mesh: string;
  /** Key generation: bumping it makes a new key (rotation); the push removes the old one once no longer kept. */
  readonly generation: number;
  /** Subject CN (informative; IKE matches SANs) unless `subjectDn` is given. */
  readonly commonName: string;
  /** A DN IKE identity: the whole subject (`C=CH, O=Example, CN=alpha`); strongSwan matches it. */
  readonly subjectDn?: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

export interface RemoveHostKeyScriptOptions {
  readonly host: string;
  readonly mesh: string;
  readonly generation: number;
}

/** Dotted-quad IPv4 or IPv6 text only (ipaddr.isValid also takes forms like "10"). */
function isAddress(value: string): boolean {
  return /^[0-9A-Fa-f:.]+$/.test(value) && (ipaddr.IPv4.isValidFourPartDecimal(value) || ipaddr.IPv6.isValid(value));
}

/** RDNs joined by ", "; the characters a shell or openssl's -subj would read specially are refused. */
const SUBJECT_DN = /^[A-Za-z][A-Za-z0-9.]*=[^,=+/'$`\\"]+(, [A-Za-z][A-Za-z0-9.]*=[^,=+/'$`\\"]+)*$/;

/** The subject as pki --dn takes it, and as openssl -subj does (`/C=CH/O=Example/CN=alpha`). */
function subjects(opts: HostKeyScriptOptions): { pki: string; openssl: string } {
  const dn = opts.subjectDn ?? `CN=${opts.commonName}`;
  return { pki: dn, openssl: `/${dn.split(', ').join('/')}` };
}

const DNS_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function checkNames(opts: HostKeyScriptOptions): void {
  const { host } = opts;
  if (!DNS_NAME.test(opts.commonName) && !isAddress(opts.commonName)) {
    throw new DeliveryError(host, `certificate common name "${opts.commonName}" is neither a DNS name nor an address`);
  }
  if (opts.commonName.length > 64) throw new DeliveryError(host, `certificate common name "${opts.commonName}" is longer than 64 characters`);
  for (const d of opts.dnsNames) {
    if (!DNS_NAME.test(d) || d.length > 253) throw new DeliveryError(host, `"${d}" is not a DNS name`);
  }
  for (const a of opts.ipAddresses) {
    if (!isAddress(a)) throw new DeliveryError(host, `"${a}" is not an IP address`);
  }
  if (opts.subjectDn !== undefined && !SUBJECT_DN.test(opts.subjectDn)) {
    throw new DeliveryError(host, `certificate subject "${opts.subjectDn}" is not a DN of type=value parts (no quotes, backslashes, "/", "$", "+" or backquotes)`);
  }
  if (opts.dnsNames.length + opts.ipAddresses.length === 0) {
    throw new DeliveryError(host, 'a host certificate needs at least one DNS name or address');
  }
}

/** First line of the stored CSR: which key and names it was made for. */
function csrHeader(key: string, opts: HostKeyScriptOptions): string {
  return `# ipsec-mesh CSR for ${key}: ${subjects(opts).pki} SAN=${[...opts.dnsNames, ...opts.ipAddresses].join(',')}`;
}

function hostKeyBody(opts: HostKeyScriptOptions): string {
  const key = hostKeyPath(opts.mesh, opts.host, opts.generation);
  const csr = hostCsrPath(opts.mesh, opts.host);
  const sans = [...opts.dnsNames, ...opts.ipAddresses];
  const pkiSans = sans.map((s) => `--san ${s}`).join(' ');
  const opensslSans = [...opts.dnsNames.map((d) => `DNS:${d}`), ...opts.ipAddresses.map((a) => `IP:${a}`)].join(',');
  return `
cat > /dev/null
take_lock
${WORKDIR}
KEY=$R${key}
CSRF=$R${csr}
WANT="${csrHeader(key, opts)}"
made=0
[ -d "$R/etc/swanctl/private" ] || die "/etc/swanctl/private does not exist (is strongswan-swanctl installed?)"
if [ ! -s "$KEY" ]; then
  made=1
  make_stage ${key} || die "cannot create a staging directory"
  t=$(tmp_of ${key})
  rm -f "$t"
  printf "%s\\n" "$t" >> "$W/temps"
  if command -v pki >/dev/null 2>&1; then
    pki --gen --type ecdsa --size 384 --outform pem > "$t" 2> "$W/gen.err" || die "pki --gen failed: $(cat "$W/gen.err")"
  elif command -v openssl >/dev/null 2>&1; then
    openssl ecparam -name secp384r1 -genkey -noout -out "$t" 2> "$W/gen.err" || die "openssl ecparam failed: $(cat "$W/gen.err")"
  else
    die "neither pki (strongswan-pki) nor openssl is installed: cannot make the host key"
  fi
  chmod 0600 "$t"
  if [ "$(id -u)" = 0 ]; then chown 0:0 "$t"; fi
  sync "$t" 2>/dev/null || sync
  mv -f "$t" "$KEY" || die "cannot install ${key}"
  say "made a new ECDSA P-384 key ${key}"
fi
# ECDSA signatures are randomised: a new CSR each run would re-sign the certificate whenever
# this command runs again. The same key (not re-made, not replaced since) and the same names
# print the stored request again.
if [ "$made" = 0 ] && [ -f "$CSRF" ] && [ ! "$KEY" -nt "$CSRF" ] && [ "$(sed -n 1p "$CSRF")" = "$WANT" ] &&
   grep -q "^-----END CERTIFICATE REQUEST-----" "$CSRF"; then
  sed -n "/^-----BEGIN CERTIFICATE REQUEST-----/,/^-----END CERTIFICATE REQUEST-----/p" "$CSRF"
  exit 0
fi
if command -v pki >/dev/null 2>&1; then
  pki --req --in "$KEY" --type priv --dn "${subjects(opts).pki}" ${pkiSans} --outform pem > "$W/csr" 2> "$W/req.err" ||
    die "pki --req failed: $(cat "$W/req.err")"
else
  openssl req -new -sha384 -key "$KEY" -subj "${subjects(opts).openssl}" -addext "subjectAltName=${opensslSans}" -outform PEM > "$W/csr" 2> "$W/req.err" ||
    die "openssl req failed: $(cat "$W/req.err")"
fi
grep -q "^-----BEGIN CERTIFICATE REQUEST-----" "$W/csr" || die "no CSR was produced"
make_stage ${csr} || die "cannot create a staging directory"
t=$(tmp_of ${csr})
printf "%s\\n" "$t" >> "$W/temps"
{ printf "%s\\n" "$WANT"; cat "$W/csr"; } > "$t" && chmod 0600 "$t" || die "cannot store the CSR"
if [ "$(id -u)" = 0 ]; then chown 0:0 "$t"; fi
mv -f "$t" "$CSRF" || die "cannot store the CSR as ${csr}"
cat "$W/csr"
`;
}

/** The command string that makes the host key (if missing) and prints its CSR on stdout. */
export function prepareHostKeyScript(opts: HostKeyScriptOptions): string {
  checkLabel(opts.host, 'host name', opts.host);
  checkLabel(opts.host, 'mesh name', opts.mesh);
  checkNames(opts);
  const script = `${prologue(opts.host, opts.mesh, `host key, generation ${opts.generation}`)}${hostKeyBody(opts)}`;
  return remoteCommand(opts.host, 'host-key', script);
}

/**
 * The delete of the host-key command: removes the key of this generation unless the mesh's
 * current push still keeps it (listed as `K` in its state file), i.e. unless the installed
 * certificate is for this key. Safe when the key is already gone.
 */
export function removeHostKeyScript(opts: RemoveHostKeyScriptOptions): string {
  checkLabel(opts.host, 'host name', opts.host);
  checkLabel(opts.host, 'mesh name', opts.mesh);
  const key = hostKeyPath(opts.mesh, opts.host, opts.generation);
  const csr = hostCsrPath(opts.mesh, opts.host);
  const body = `
cat > /dev/null
take_lock
${WORKDIR}
${READ_STATE}
if grep -qxF ${key} "$W/old.keep"; then
  echo "$H: ${key} is still used by the current configuration of mesh $M; kept"
  exit 0
fi
rm -f "$(tmp_of ${key})"
if [ -e "$R${key}" ]; then
  rm -f "$R${key}" || die "cannot remove ${key}"
  echo "$H: removed ${key}"
else
  echo "$H: ${key} is already gone"
fi
# The stored CSR goes with its key (a newer generation has overwritten it already).
case $(sed -n 1p "$R${csr}" 2>/dev/null) in "# ipsec-mesh CSR for ${key}:"*) rm -f "$R${csr}" ;; esac
`;
  return remoteCommand(opts.host, 'remove-host-key', `${prologue(opts.host, opts.mesh, `remove host key, generation ${opts.generation}`)}${body}`);
}

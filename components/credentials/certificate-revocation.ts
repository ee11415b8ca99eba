// The mesh CA's certificate revocation list. Signed on the operator's machine by a local
// command (upstream command provider) with openssl, from the CA key on stdin: the command's
// output stays in the stack's state and is only made again when its inputs change, so a
// no-change `up` sends nothing (an ECDSA signature differs every time it is made).
//
// What is revoked: every certificate the mesh issued to a host that is no longer an active
// member — removed from the inventory, or marked `revoked: true` — and every certificate of a
// key a host no longer has (a `certificateGeneration` bump: the answer to a leaked key). The
// command remembers every host=serial:keyid it has seen in its own output (`SEEN`), which the
// provider hands back to the next run (PULUMI_COMMAND_STDOUT): a removed host's serial is
// known although its certificate resource is gone. A renewed certificate's predecessor (same
// host, same key) is not revoked: a peer still being pushed would be shut out for nothing.
//
// The CRL is v2 with an authorityKeyIdentifier: charon looks a loaded CRL up by its issuer's
// subjectKeyIdentifier (revocation_validator.c, check_crl()); a CRL without one is never found
// and every certificate passes as "status not available" (the lab test showed it).

import { X509Certificate, createHash } from 'node:crypto';

/** The CRL's nextUpdate, days after it is signed: it is signed again whenever the set changes. */
export const CRL_DAYS = 3650;

/** One line per field of the command's output, then the CRL in PEM. */
export interface CrlOutput {
  /** host=serial:keyid (hex), every one seen so far. */
  readonly seen: readonly string[];
  /** host=serial:keyid of the certificates on the CRL. */
  readonly revoked: readonly string[];
  readonly crlPem: string;
}

export function parseCrlOutput(stdout: string): CrlOutput {
  const field = (k: string): string[] => (new RegExp(`^${k} (.*)$`, 'm').exec(stdout)?.[1] ?? '').split(' ').filter(Boolean);
  const pem = /-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----\n?/.exec(stdout)?.[0] ?? '';
  return { seen: field('SEEN'), revoked: field('REVOKED'), crlPem: pem.endsWith('\n') || pem === '' ? pem : `${pem}\n` };
}

/**
 * `SERIAL:KEYID` of a certificate: its serial in hex and the first 16 bytes of the SHA-256 of
 * its public key (what tells a renewal from a new key). Only a placeholder (unit-test mocks) is
 * not a certificate — the provider always returns one: it gets a stable stand-in from its
 * hash, so it stays an active host instead of vanishing from the list (which would revoke it).
 */
export function certificateSerialAndKey(pem: string): string {
  try {
    const cert = new X509Certificate(pem);
    const keyId = createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 32);
    return `${cert.serialNumber}:${keyId}`.toUpperCase();
  } catch {
    const h = createHash('sha256').update(pem).digest('hex').toUpperCase();
    return `${h.slice(0, 32)}:${h.slice(32)}`;
  }
}

/** host=SERIAL:KEYID for each host certificate, as the command takes it (IPSEC_MESH_HOSTS). */
export function hostSerialList(entries: readonly (readonly [string, string])[]): string {
  return entries.map(([host, serial]) => `${host}=${serial.toUpperCase()}`).join(' ');
}

/**
 * The local command's script (run as `sh -c "$IPSEC_MESH_SIGN_CRL"`). Environment:
 * IPSEC_MESH_HOSTS (host=SERIAL:KEYID of every host now), IPSEC_MESH_REVOKED_HOSTS (names marked
 * revoked), IPSEC_MESH_CA_CERT, IPSEC_MESH_CRL_DAYS; stdin: the CA key. Nothing secret is
 * printed: stdout is SEEN, REVOKED and the CRL.
 */
export const SIGN_CRL_SCRIPT = String.raw`set -eu
umask 077
command -v openssl > /dev/null || { echo "ipsec-mesh: openssl is needed on this machine to sign the mesh CA's revocation list" >&2; exit 1; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cat > "$d/ca.key"
printf '%s\n' "$IPSEC_MESH_CA_CERT" > "$d/ca.pem"
printenv PULUMI_COMMAND_STDOUT | sed -n 's/^SEEN //p' > "$d/previous" || :
printf '%s %s\n' "$(cat "$d/previous")" "$IPSEC_MESH_HOSTS" | tr ' ' '\n' | grep '=' | LC_ALL=C sort -u > "$d/seen" || :
: > "$d/active"
for e in $IPSEC_MESH_HOSTS; do
  n=$(printf '%s' "$e" | cut -d= -f1)
  k=$(printf '%s' "$e" | cut -d: -f2)
  case " $IPSEC_MESH_REVOKED_HOSTS " in *" $n "*) ;; *) printf '%s %s\n' "$n" "$k" >> "$d/active" ;; esac
done
: > "$d/index.txt"
: > "$d/revoked"
now=$(date -u +%y%m%d%H%M%SZ)
# Revoked: hosts no longer active, and keys an active host no longer has.
while IFS='=' read -r n sk; do
  s=$(printf '%s' "$sk" | cut -d: -f1)
  k=$(printf '%s' "$sk" | cut -d: -f2)
  if grep -qxF "$n $k" "$d/active"; then continue; fi
  printf '%s=%s\n' "$n" "$sk" >> "$d/revoked"
  printf 'R\t491231235959Z\t%s\t%s\tunknown\t/CN=%s\n' "$now" "$s" "$n" >> "$d/index.txt"
done < "$d/seen"
{
  echo "[ ca ]"
  echo "default_ca = mesh"
  echo "[ mesh ]"
  echo "database = $d/index.txt"
  echo "default_md = sha384"
  echo "default_crl_days = $IPSEC_MESH_CRL_DAYS"
  echo "crl_extensions = crl_ext"
  echo "[ crl_ext ]"
  echo "authorityKeyIdentifier = keyid:always"
} > "$d/openssl.cnf"
openssl ca -config "$d/openssl.cnf" -gencrl -cert "$d/ca.pem" -keyfile "$d/ca.key" -out "$d/crl.pem" -batch 2> "$d/err" || { cat "$d/err" >&2; exit 1; }
echo "SEEN $(tr '\n' ' ' < "$d/seen" | sed 's/ $//')"
echo "REVOKED $(tr '\n' ' ' < "$d/revoked" | sed 's/ $//')"
cat "$d/crl.pem"
`;

// The fingerprint the push compares per connection: the render layer's hash of the
// connection's swanctl text, folded with the credentials it authenticates with. A changed
// fingerprint makes the push close that connection's running IKE_SAs (charon keeps them on
// their old proposal and credentials otherwise, even across rekeys: docs/delivery.md).
import { X509Certificate, createHash, createHmac } from 'node:crypto';
import { MeshArgsError } from './mesh-error.js';

/** The fixed message the pair's PSK keys the HMAC over (a version bump changes every PSK fingerprint). */
export const PSK_FINGERPRINT_LABEL = 'ipsec-mesh connection fingerprint: psk v1';

/**
 * One-way token of a PSK: HMAC-SHA256 keyed with the PSK over a fixed label. Changes when the
 * key changes; neither reveals nor contains it. Computed only where the PSK already is (inside
 * the Pulumi apply that renders the secrets file).
 */
export function pskFingerprint(psk: string): string {
  return createHmac('sha256', psk).update(PSK_FINGERPRINT_LABEL).digest('hex');
}

/** What a HostPair shows of its key: the first 16 hex digits (64 bits) of pskFingerprint. */
export function pairPskFingerprint(psk: string): string {
  return pskFingerprint(psk).slice(0, 16);
}

/**
 * Certificate mode: the host's **public key** and every trusted CA (all public), in label
 * order. The key, not the certificate: a renewal (same key, new validity) must not close the
 * running SAs, while a new key (generation bump) or another CA set must.
 */
export function certificateFingerprint(hostCertPem: string, caPems: ReadonlyMap<string, string>): string {
  const h = createHash('sha256').update('host key\n').update(hostPublicKey(hostCertPem)).update('\n');
  for (const label of [...caPems.keys()].sort()) h.update(`ca ${label}\n${caPems.get(label) ?? ''}\n`);
  return h.digest('hex');
}

/** SubjectPublicKeyInfo (DER) of a certificate; the text itself when it is not one (test placeholders). */
function hostPublicKey(pem: string): Buffer | string {
  try {
    return new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  } catch {
    return pem;
  }
}

/** Each connection's config fingerprint folded with its credentials' token: sha256 hex. */
export function foldFingerprints(
  hostName: string,
  config: Readonly<Record<string, string>>,
  credentials: (connection: string) => string | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, fp] of Object.entries(config)) {
    const cred = credentials(name);
    // Every mesh connection comes from one of the host's pairs: a bug here, not user input.
    if (cred === undefined) throw new MeshArgsError('pairs', `host ${hostName}: no credentials for connection ${name}`);
    out[name] = createHash('sha256').update(`${fp}\n${cred}\n`).digest('hex');
  }
  return out;
}

// The fingerprint the push compares per connection: the render layer's hash of the
// connection's swanctl text, folded with the credentials it authenticates with. A changed
// fingerprint makes the push close that connection's running IKE_SAs (charon keeps them on
// their old proposal and credentials otherwise, even across rekeys: docs/delivery.md).
import { createHash, createHmac } from 'node:crypto';
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
 * Certificate mode: the host certificate and every trusted CA (all public), in label order.
 * The certificate itself, not only its key: a renewed certificate (same key) renews the SAs
 * too, so charon never runs an SA on a certificate it no longer has. (Folding only the key
 * would keep them up, but changes every deployed fingerprint: a package upgrade would then
 * re-push every host and close every SA once — see docs/components.md, *Renewal*.)
 */
export function certificateFingerprint(hostCertPem: string, caPems: ReadonlyMap<string, string>): string {
  const h = createHash('sha256').update(`host\n${hostCertPem}\n`);
  for (const label of [...caPems.keys()].sort()) h.update(`ca ${label}\n${caPems.get(label) ?? ''}\n`);
  return h.digest('hex');
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

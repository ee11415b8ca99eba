// The per-host summary a stack exports: what the host got, never anything secret.
import { X509Certificate } from 'node:crypto';

export interface HostSummary {
  readonly name: string;
  readonly site: string;
  readonly fqdn: string;
  readonly identity: string;
  /** Peers this host has an encrypted pair with. */
  readonly peers: number;
  /** swanctl connection names rendered for the host (empty when the mesh is disabled). */
  readonly connections: string[];
  /** Bypass (pass) shunt names: SSH, ICMP, NDP and the inventory's own. */
  readonly bypass: string[];
  /** Pair count per effective enforcement level. */
  readonly enforcement: { off: number; use: number; require: number };
  readonly enabled: boolean;
  /** Certificate mode: the host certificate (public) and its SHA-256 fingerprint. */
  readonly certificatePem?: string;
  readonly certificateFingerprint?: string;
  /** Certificate mode: the end of the host certificate's validity (RFC 3339). */
  readonly certificateNotAfter?: string;
  /** Label of the CA that issued the host certificate. */
  readonly issuer?: string;
}

export interface CertificateFacts {
  readonly fingerprint: string;
  readonly notAfter: string;
}

/** SHA-256 fingerprint (colon hex, as `openssl x509 -fingerprint -sha256` prints) and expiry. */
export function certificateFacts(pem: string): CertificateFacts {
  const cert = new X509Certificate(pem);
  return { fingerprint: cert.fingerprint256, notAfter: new Date(cert.validTo).toISOString() };
}

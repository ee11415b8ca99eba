// When each host's certificates expire, as charon holds them: `swanctl --list-certs --pem`
// over SSH prints every loaded X.509 certificate (the host's own, the trusted CAs) as PEM, and
// node:crypto reads them — no date strings to parse. Public data only.
import { X509Certificate } from 'node:crypto';
import { hostCertificateNames } from '../credentials/host-certificate-names.js';
import type { Inventory } from '../inventory/model.js';
import { forEachManagedHost, runOverSsh, SSH_FAILED, type HostQueryOptions, type SshRunOptions } from './ssh-runner.js';

export interface CertificateExpiry {
  readonly subject: string;
  readonly ca: boolean;
  /** `host`: the host's own (its subject is the one the mesh gives it); `peer`: a peer's, cached by charon from IKE. */
  readonly role: 'host' | 'ca' | 'peer';
  /** ISO 8601. */
  readonly notAfter: string;
  /** Negative once expired. */
  readonly secondsLeft: number;
}

export interface HostCertificateReport {
  readonly host: string;
  readonly certificates?: readonly CertificateExpiry[];
  readonly error?: string;
  /** SSH itself failed: nothing is known of this host's certificates. */
  readonly unreachable?: boolean;
}

/** Every PEM certificate in `text`, read; a block that does not parse is reported by its subject line's absence. */
export function parseCertificateExpiry(text: string, now: Date, ownSubject?: string): CertificateExpiry[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((pem) => {
    const cert = new X509Certificate(pem);
    const notAfter = new Date(cert.validTo);
    const subject = cert.subject.split('\n').join(', ');
    return {
      subject,
      ca: cert.ca,
      role: cert.ca ? 'ca' : subject === ownSubject ? 'host' : 'peer',
      notAfter: notAfter.toISOString(),
      secondsLeft: Math.floor((notAfter.getTime() - now.getTime()) / 1000),
    };
  });
}

export async function collectCertificateExpiry(inventory: Inventory, opts: SshRunOptions & HostQueryOptions & { readonly now?: Date }): Promise<HostCertificateReport[]> {
  const now = opts.now ?? new Date();
  return forEachManagedHost(inventory, opts, async (host): Promise<HostCertificateReport> => {
    try {
      const r = await runOverSsh(host, 'swanctl --list-certs --type x509 --pem', opts);
      if (r.code !== 0) return { host: host.name, error: r.stderr.trim() || `exit ${r.code}`, ...(r.code === SSH_FAILED ? { unreachable: true } : {}) };
      const names = hostCertificateNames(host);
      return { host: host.name, certificates: parseCertificateExpiry(r.stdout, now, names.subjectDn ?? `CN=${names.commonName}`) };
    } catch (err) {
      return { host: host.name, error: (err as Error).message, unreachable: true };
    }
  });
}

const DAY = 86_400;

/** One line per certificate, soonest first; `warnDays` marks those about to expire. */
export function formatCertificateExpiry(reports: readonly HostCertificateReport[], warnDays = 30): string {
  const rows: [number, string][] = [];
  for (const r of reports) {
    if (r.error !== undefined) {
      rows.push([Number.NEGATIVE_INFINITY, `${r.host}: cannot list certificates: ${r.error}`]);
      continue;
    }
    // Peers' certificates (cached by charon from IKE) are reported by their own hosts.
    for (const c of (r.certificates ?? []).filter((x) => x.role !== 'peer')) {
      const days = c.secondsLeft / DAY;
      const mark = c.secondsLeft < 0 ? 'EXPIRED' : days < warnDays ? 'WARN' : 'ok';
      rows.push([c.secondsLeft, `${mark.padEnd(7)} ${r.host.padEnd(12)} ${c.ca ? 'CA  ' : 'host'} ${c.notAfter}  ${days.toFixed(1).padStart(8)} days  ${c.subject}`]);
    }
  }
  rows.sort((x, y) => x[0] - y[0]);
  return ['certificates (soonest expiry first):', ...rows.map(([, l]) => `  ${l}`)].join('\n');
}

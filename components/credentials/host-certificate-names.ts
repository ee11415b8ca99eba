// The names a host's certificate carries. strongSwan accepts a peer only when its IKE
// identity appears in the certificate (subject or subjectAltName): an FQDN or address
// identity, the host's DNS name and every address go in as SANs, a DN identity becomes the
// subject. The CSR is made on the host; the LocallySignedCert copies subject and SANs from it
// unchanged. (It copies no e-mail SAN: the inventory refuses e-mail identities with certificates.)
import { dnRdns, ikeIdentityKind } from '../inventory/ike-identity.js';
import type { Host } from '../inventory/model.js';

export interface HostCertificateNames {
  readonly commonName: string;
  /**
   * The certificate's subject when the IKE identity is a distinguished name (strongSwan then
   * matches the identity against the subject); undefined: `CN=<commonName>`.
   */
  readonly subjectDn?: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function isIpAddress(value: string): boolean {
  return IPV4.test(value) || value.includes(':');
}

/** A hostname-shaped identity (an FQDN or a bare label), as opposed to an address, e-mail or DN. */
function isDnsName(value: string): boolean {
  return /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(value) && !IPV4.test(value);
}

export function hostCertificateNames(host: Host): HostCertificateNames {
  const dns = new Set<string>();
  const ips = new Set<string>();
  for (const name of [host.identity, host.fqdn]) {
    if (isIpAddress(name)) ips.add(name);
    else if (isDnsName(name)) dns.add(name.replace(/\.$/, ''));
  }
  for (const a of [...host.addresses.ipv4, ...host.addresses.ipv6]) ips.add(a.address);
  const dn = ikeIdentityKind(host.identity) === 'dn' ? dnRdns(host.identity) : undefined;
  return {
    // The CN is informative only (IKE matches SANs); keep it within X.509's 64 characters.
    commonName: host.fqdn.slice(0, 64),
    ...(dn ? { subjectDn: dn.join(', ') } : {}),
    dnsNames: [...dns],
    ipAddresses: [...ips],
  };
}

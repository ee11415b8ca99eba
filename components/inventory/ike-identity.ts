// How strongSwan reads an IKE identity string (identification_create_from_string, reduced to
// what the inventory accepts): the inventory checks identities with it, the credentials layer
// puts each kind where strongSwan looks for it in a certificate.

export type IkeIdentityKind = 'dn' | 'email' | 'address' | 'fqdn';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
/** One RDN `type=value` (X.509 attribute types as strongSwan names them: C, O, OU, CN, …). */
const RDN = /^[A-Za-z][A-Za-z0-9.]*=[^,=+/'$`]+$/;

export function ikeIdentityKind(identity: string): IkeIdentityKind {
  if (identity.includes('=')) return 'dn';
  if (identity.includes('@')) return 'email';
  if (IPV4.test(identity) || identity.includes(':')) return 'address';
  return 'fqdn';
}

/** RDNs of a DN identity, or undefined when it is not one the certificate tooling can write. */
export function dnRdns(identity: string): string[] | undefined {
  const rdns = identity.split(',').map((r) => r.trim());
  return rdns.every((r) => RDN.test(r)) ? rdns : undefined;
}

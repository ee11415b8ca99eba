// The PPK_ID a connection sends (RFC 8784): both ends of a pair name the same one.

/** The PPK_ID both ends of a pair send: DNS labels only, so it reads as an FQDN identity. */
export function pairPpkId(meshName: string, hostA: string, hostB: string): string {
  const [first, second] = hostA < hostB ? [hostA, hostB] : [hostB, hostA];
  return `${first}.${second}.${meshName}.ppk`;
}

/** The compact layout's one PPK_ID (its connection picks no peer before IKE_AUTH). */
export function meshPpkId(meshName: string): string {
  return `${meshName}.ppk`;
}

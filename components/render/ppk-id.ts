// The PPK_ID a connection sends (RFC 8784): both ends of a pair name the same one.

// Each PPK generation has ids of its own: a responder requires the PPK_ID it receives to match
// its connection's, so two ends never pair a new key with an old one under one id.

/** `.g<N>` after the mesh name from generation 1 on (generation 0 keeps the first release's ids). */
function generationLabel(generation: number): string {
  return generation === 0 ? '' : `.g${generation}`;
}

/** The PPK_ID both ends of a pair send: DNS labels only, so it reads as an FQDN identity. */
export function pairPpkId(meshName: string, hostA: string, hostB: string, generation = 0): string {
  const [first, second] = hostA < hostB ? [hostA, hostB] : [hostB, hostA];
  return `${first}.${second}.${meshName}${generationLabel(generation)}.ppk`;
}

/** The compact layout's one PPK_ID (its connection picks no peer before IKE_AUTH). */
export function meshPpkId(meshName: string, generation = 0): string {
  return `${meshName}${generationLabel(generation)}.ppk`;
}

// Post-quantum preshared keys (RFC 8784): one per pair, derived from the mesh's PPK master with
// HKDF-SHA256 like the pair PSKs, under labels of their own, so a pair's PSK and PPK never
// coincide even if one master served both. The compact layout's one connection cannot pick a
// key per peer before IKE_AUTH, so it shares one mesh-wide PPK (docs/quantum-resistance.md).
import { hkdfSync } from 'node:crypto';
import { MIN_MASTER_BYTES, PAIR_PSK_BYTES, PskDerivationError } from './psk-derivation.js';

/** 256 bits, as RFC 8784 asks at least. */
export const PPK_BYTES = PAIR_PSK_BYTES;

function derive(master: string, meshName: string, info: string): string {
  const ikm = Buffer.from(master, 'utf8');
  if (ikm.length < MIN_MASTER_BYTES) {
    throw new PskDerivationError(`PPK master secret of mesh "${meshName}" is ${ikm.length} bytes; at least ${MIN_MASTER_BYTES} are required`);
  }
  return `0x${Buffer.from(hkdfSync('sha256', ikm, `ipsec-mesh/${meshName}`, info, PPK_BYTES)).toString('hex')}`;
}

/** The PPK of one host pair (order-free), in swanctl's hex notation. */
export function derivePairPpk(master: string, meshName: string, hostA: string, hostB: string): string {
  if (hostA === hostB) throw new PskDerivationError(`cannot derive a PPK for host "${hostA}" paired with itself`);
  const [first, second] = hostA < hostB ? [hostA, hostB] : [hostB, hostA];
  return derive(master, meshName, `pair-ppk/v1/${first}~${second}`);
}

/** The compact layout's mesh-wide PPK. */
export function deriveMeshPpk(master: string, meshName: string): string {
  return derive(master, meshName, 'mesh-ppk/v1');
}

/**
 * The PPK of each pair of one host, for the render layer (undefined: the compact layout's
 * mesh-wide one); derived on demand.
 */
export function ppkForPairs(master: string, meshName: string): (pair: { readonly a: string; readonly b: string } | undefined) => string {
  return (pair) => (pair === undefined ? deriveMeshPpk(master, meshName) : derivePairPpk(master, meshName, pair.a, pair.b));
}

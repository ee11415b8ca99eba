import { hkdfSync } from 'node:crypto';

/** Length of every derived pair key: 256 bits. */
export const PAIR_PSK_BYTES = 32;
/** A master secret shorter than this is refused: the pair keys can be no stronger than it. */
export const MIN_MASTER_BYTES = 32;

export class PskDerivationError extends Error {
  override readonly name = 'PskDerivationError';
}

/**
 * Derives the PSK of one host pair from the mesh's master secret with HKDF-SHA256.
 * The pair identity is order-free (sorted names), so both hosts derive the same key, and
 * `ipsec-mesh render --psk-master` and the Pulumi components agree byte for byte.
 * Returned in swanctl's hex notation (`0x…`), which keeps the key out of any quoting rules.
 */
export function derivePairPsk(master: string | Uint8Array, meshName: string, hostA: string, hostB: string): string {
  const ikm = typeof master === 'string' ? Buffer.from(master, 'utf8') : Buffer.from(master);
  if (ikm.length < MIN_MASTER_BYTES) {
    throw new PskDerivationError(
      `PSK master secret of mesh "${meshName}" is ${ikm.length} bytes; at least ${MIN_MASTER_BYTES} are required`,
    );
  }
  if (hostA === hostB) {
    throw new PskDerivationError(`cannot derive a PSK for host "${hostA}" paired with itself`);
  }
  const [first, second] = hostA < hostB ? [hostA, hostB] : [hostB, hostA];
  const okm = hkdfSync('sha256', ikm, `ipsec-mesh/${meshName}`, `pair-psk/v1/${first}~${second}`, PAIR_PSK_BYTES);
  return `0x${Buffer.from(okm).toString('hex')}`;
}

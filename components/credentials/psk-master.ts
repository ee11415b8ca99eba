// PSK mode: one random master secret per mesh, every pair key derived from it
// (derivePairPsk). The number of Pulumi resources therefore grows with nothing: one
// RandomPassword for the whole mesh, rotated by a generation in its keepers.
import type { HostPair } from '../topology/host-pair.js';
import { derivePairPsk } from './psk-derivation.js';

/** 64 characters from a 62+symbol alphabet: well over 256 bits of entropy for HKDF's input. */
export const PSK_MASTER_LENGTH = 64;

/** Keepers of the master RandomPassword: a new generation replaces the value. */
export function pskMasterKeepers(generation: number): Record<string, string> {
  return { generation: String(generation) };
}

/**
 * Characters the master may use. No quotes or backslashes (it never reaches a shell, but
 * `ipsec-mesh render --psk-master` users paste it) and no whitespace.
 */
export const PSK_MASTER_SPECIALS = '!#%*+-.:=?@^_~';

/** The key of each pair of one host, for the render layer; derived on demand. */
export function pskForPairs(master: string, meshName: string): (pair: HostPair) => string {
  return (pair) => derivePairPsk(master, meshName, pair.a, pair.b);
}

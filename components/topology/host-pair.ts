import type { AddressFamily, Enforcement } from '../inventory/model.js';

/** The two addresses one connection of a pair uses, in one family. */
export interface PairEndpoints {
  readonly family: AddressFamily;
  readonly a: string; // address of host `a`
  readonly b: string; // address of host `b`
}

/** An unordered pair of hosts that must be encrypted. `a < b` (by name), always. */
export interface HostPair {
  readonly a: string;
  readonly b: string;
  /** Stable identity of the pair: `${a}~${b}` (names are DNS labels, so `~` cannot occur in them). */
  readonly key: string;
  /** One entry per family both hosts share (ipv4 before ipv6); never empty. */
  readonly families: readonly PairEndpoints[];
  /** Effective enforcement after site and pair overrides. */
  readonly enforcement: Enforcement;
}

/** The other host of a pair, seen from `self`. */
export function peerOf(pair: HostPair, self: string): string {
  return pair.a === self ? pair.b : pair.a;
}

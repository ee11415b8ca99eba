// The computed pairs plus a per-host index, so a renderer working host by host reads only
// that host's pairs (the index holds references to the same HostPair objects, no copies).
import type { HostPair } from './host-pair.js';

export interface HostPairSet {
  /** Every pair, sorted by (a, b) in plain string order of the names. */
  readonly pairs: readonly HostPair[];
  /** Every inventory host name, sorted. */
  readonly hostNames: readonly string[];
  /** Host name → its pairs, sorted by peer name; hosts with no pair map to an empty array. */
  readonly byHost: ReadonlyMap<string, readonly HostPair[]>;
}

/** Thrown when asking the index about a host the inventory does not have (a caller bug). */
export class UnknownHostError extends Error {
  override readonly name = 'UnknownHostError';
  constructor(readonly host: string) {
    super(`host "${host}" is not in the inventory`);
  }
}

/** The pairs of one host, sorted by peer name; O(1), no copy. */
export function pairsForHost(set: HostPairSet, hostName: string): readonly HostPair[] {
  const pairs = set.byHost.get(hostName);
  if (pairs === undefined) throw new UnknownHostError(hostName);
  return pairs;
}

/** The pair of two hosts, in either order, or undefined; O(log pairs of x). */
export function findPair(set: HostPairSet, x: string, y: string): HostPair | undefined {
  const pairs = pairsForHost(set, x);
  // Sorted by peer name: binary search.
  let lo = 0;
  let hi = pairs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const p = pairs[mid]!;
    const peer = p.a === x ? p.b : p.a;
    if (peer === y) return p;
    if (peer < y) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

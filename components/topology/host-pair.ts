import type { AddressFamily, Enforcement, QuantumResistance } from '../inventory/model.js';

/** The addresses one connection of a pair uses, in one family. */
export interface PairEndpoints {
  readonly family: AddressFamily;
  readonly a: string; // address on host `a`'s interface (DYNAMIC_ADDRESS: `a` roams)
  readonly b: string; // address on host `b`'s interface
  /** `a` is behind 1:1 NAT and `b` is in another site: `b` reaches `a` here (and sees it as this). */
  readonly aPublic?: string;
  readonly bPublic?: string;
}

/** The address of a roaming end (addresses: dynamic): wherever it is at the moment. */
export const DYNAMIC_ADDRESS = 'dynamic';

/** Whether either end of this pair/family roams (its address is DYNAMIC_ADDRESS). */
export function roams(ep: PairEndpoints): boolean {
  return ep.a === DYNAMIC_ADDRESS || ep.b === DYNAMIC_ADDRESS;
}

/** The address on this end's own interface (what it binds IKE to and its kernel sends from). */
export function localAddress(ep: PairEndpoints, isA: boolean): string {
  return isA ? ep.a : ep.b;
}

/** The address this end reaches the peer at: the peer's public one across 1:1 NAT. */
export function remoteAddress(ep: PairEndpoints, isA: boolean): string {
  return isA ? (ep.bPublic ?? ep.b) : (ep.aPublic ?? ep.a);
}

/** Whether either end is behind 1:1 NAT on this pair (NAT-T: ESP goes inside UDP 4500). */
export function crossesNat(ep: PairEndpoints): boolean {
  return ep.aPublic !== undefined || ep.bPublic !== undefined;
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
  /** The pair's own PPK level (mesh.pairOverrides); undefined: its sites' (pairQuantumResistance). */
  readonly quantumResistance?: QuantumResistance;
}

/** The other host of a pair, seen from `self`. */
export function peerOf(pair: HostPair, self: string): string {
  return pair.a === self ? pair.b : pair.a;
}

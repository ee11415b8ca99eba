// The per-pair status matrix: what charon on both ends of every pair says, per address family.
// Pure: it reads parsed `swanctl --list-sas` output; collecting it over SSH is elsewhere.
import type { AddressFamily, Enforcement, Inventory } from '../inventory/model.js';
import { DYNAMIC_ADDRESS, remoteAddress, type HostPair } from '../topology/host-pair.js';
import type { XfrmState } from './liveness-xfrm.js';
import { quantumProtection, type IkeSaStatus, type QuantumProtection } from './swanctl-status.js';

/**
 * encrypted — both ends hold an ESTABLISHED IKE_SA and an INSTALLED CHILD_SA.
 * half      — one end has an INSTALLED CHILD_SA, the other none (a "sad halfling": traffic blackholes).
 * ike-only  — IKE_SA up on both ends, no CHILD_SA (e.g. a kernel without ESP).
 * down      — no ESTABLISHED IKE_SA on at least one end.
 * off       — enforcement `off`: no connection is configured for the pair.
 */
export type PairHealth = 'encrypted' | 'half' | 'ike-only' | 'down' | 'off';

export interface SideStatus {
  readonly host: string;
  /**
   * IKE_SA state (ESTABLISHED, CONNECTING, …) or `none`; `unreachable` when the host could not
   * be read; `unmanaged` for a host without SSH (the pair is judged by its managed end).
   */
  readonly ike: string;
  readonly ikeUniqueId?: number;
  /** CHILD_SA state (INSTALLED, REKEYING, …) or `none`. */
  readonly child: string;
  readonly childMode?: string;
  readonly proposal?: string;
  /** What protects the IKE_SA's keys against a quantum computer (from its proposal). */
  readonly quantum?: QuantumProtection;
  /**
   * The kernel's view of the installed CHILD_SA (only when the SAD was read): `ok` both SAs
   * are in the SAD, `half` only one of them (a sad halfling on this host), `none` neither (a
   * userland ESP backend, or no ESP in the kernel).
   */
  readonly sad?: 'ok' | 'half' | 'none';
}

export interface PairFamilyStatus {
  readonly a: SideStatus;
  readonly b: SideStatus;
  readonly pair: string; // `${a}~${b}`
  readonly family: AddressFamily;
  readonly enforcement: Enforcement;
  readonly health: PairHealth;
  /** Traffic of this pair leaves in cleartext now: enforcement `use` and no SA pair carries it. */
  readonly cleartext: boolean;
}

/** What one host reported; `undefined` SAs = the host could not be read. */
export interface HostSaReport {
  readonly host: string;
  readonly sas: readonly IkeSaStatus[] | undefined;
  readonly error?: string;
  /** SSH itself failed (no connection, no login): the host's state is unknown, not bad. */
  readonly unreachable?: boolean;
  /** The kernel SAD (`ip xfrm state`, header lines only), when it was read. */
  readonly sad?: readonly XfrmState[];
  /** /proc/net/xfrm_stat, when it was read. */
  readonly xfrmStat?: ReadonlyMap<string, number>;
}

const CHILD_UP = new Set(['INSTALLED', 'REKEYING', 'REKEYED']);

/** The side of an unmanaged host (managed: false): never read, no SSH. */
const UNMANAGED = (host: string): SideStatus => ({ host, ike: 'unmanaged', child: 'unmanaged' });

function side(report: HostSaReport | undefined, host: string, mesh: string, local: string, remote: string, connection: string): SideStatus {
  if (report?.sas === undefined) return { host, ike: 'unreachable', child: 'unknown' };
  // Match by endpoint addresses, not connection names: the same works for both layouts. A
  // roaming end has no fixed address: its pairs (per-peer layout only) match by name.
  const dynamic = local === DYNAMIC_ADDRESS || remote === DYNAMIC_ADDRESS;
  const candidates = report.sas.filter((sa) =>
    dynamic ? sa.name === connection : sa.name.startsWith(`${mesh}_`) && sa.localHost === local && sa.remoteHost === remote,
  );
  const ike = candidates.find((sa) => sa.state === 'ESTABLISHED') ?? candidates[0];
  if (ike === undefined) return { host, ike: 'none', child: 'none' };
  const child = ike.children.find((c) => CHILD_UP.has(c.state)) ?? ike.children[0];
  let sad: SideStatus['sad'];
  if (report.sad !== undefined && child?.state === 'INSTALLED') {
    const has = (src: string, dst: string, spi: unknown): boolean => report.sad!.some((x) => x.proto === 'esp' && x.src === src && x.dst === dst && x.spi === spi);
    const n = Number(has(remote, local, child.raw['spi-in'])) + Number(has(local, remote, child.raw['spi-out']));
    sad = n === 2 ? 'ok' : n === 1 ? 'half' : 'none';
  }
  return {
    host,
    ike: ike.state,
    ikeUniqueId: ike.uniqueId,
    child: child?.state ?? 'none',
    ...(child ? { childMode: child.mode } : {}),
    proposal: ike.proposal,
    quantum: quantumProtection(ike),
    ...(sad ? { sad } : {}),
  };
}

export function pairFamilyHealth(enforcement: Enforcement, a: SideStatus, b: SideStatus): PairHealth {
  if (enforcement === 'off') return 'off';
  const aChild = CHILD_UP.has(a.child);
  const bChild = CHILD_UP.has(b.child);
  if (aChild !== bChild) return 'half';
  // charon on both ends says installed, but one kernel holds only one of the two SAs.
  if (a.sad === 'half' || b.sad === 'half') return 'half';
  if (a.ike !== 'ESTABLISHED' || b.ike !== 'ESTABLISHED') return 'down';
  return aChild ? 'encrypted' : 'ike-only';
}

/** One row per pair and family, in the topology's order. */
export function pairStatusMatrix(inventory: Inventory, pairs: readonly HostPair[], reports: readonly HostSaReport[]): PairFamilyStatus[] {
  const byHost = new Map(reports.map((r) => [r.host, r]));
  const mesh = inventory.mesh.name;
  const unmanaged = new Set(inventory.hosts.filter((h) => h.unmanaged === true).map((h) => h.name));
  const rows: PairFamilyStatus[] = [];
  for (const pair of pairs) {
    for (const fam of pair.families) {
      const v = fam.family === 'ipv4' ? 'v4' : 'v6';
      const a = unmanaged.has(pair.a) ? UNMANAGED(pair.a) : side(byHost.get(pair.a), pair.a, mesh, fam.a, remoteAddress(fam, true), `${mesh}_${pair.b}_${v}`);
      const b = unmanaged.has(pair.b) ? UNMANAGED(pair.b) : side(byHost.get(pair.b), pair.b, mesh, fam.b, remoteAddress(fam, false), `${mesh}_${pair.a}_${v}`);
      // An unmanaged end cannot be read: the managed end's view stands for the pair.
      const health = unmanaged.has(pair.a) ? pairFamilyHealth(pair.enforcement, b, b) : unmanaged.has(pair.b) ? pairFamilyHealth(pair.enforcement, a, a) : pairFamilyHealth(pair.enforcement, a, b);
      rows.push({
        pair: pair.key,
        family: fam.family,
        enforcement: pair.enforcement,
        a,
        b,
        health,
        cleartext: pair.enforcement === 'use' && health !== 'encrypted',
      });
    }
  }
  return rows;
}

/** A fixed-width table for terminals. */
export function formatPairStatusMatrix(rows: readonly PairFamilyStatus[]): string {
  const header = ['pair', 'family', 'enforcement', 'health', 'a: IKE/CHILD', 'b: IKE/CHILD', 'traffic', 'quantum'];
  const body = rows.map((r) => [
    `${r.a.host} ↔ ${r.b.host}`,
    r.family,
    r.enforcement,
    r.health,
    `${r.a.ike}/${r.a.child}`,
    `${r.b.ike}/${r.b.child}`,
    r.health === 'encrypted' ? 'encrypted' : r.cleartext ? 'CLEARTEXT' : r.enforcement === 'off' ? 'cleartext (off)' : 'held (require)',
    pairQuantum(r) ?? '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** What protects the pair's keys against a quantum computer, as both ends see it (undefined: no IKE_SA read). */
export function pairQuantum(r: PairFamilyStatus): QuantumProtection | string | undefined {
  const a = r.a.quantum;
  const b = r.b.quantum;
  if (a === undefined) return b;
  if (b === undefined || a === b) return a;
  return `${a}/${b}`;
}

export interface MatrixSummary {
  readonly rows: number;
  readonly byHealth: Readonly<Record<PairHealth, number>>;
  readonly cleartext: number;
}

export function summarisePairStatus(rows: readonly PairFamilyStatus[]): MatrixSummary {
  const byHealth: Record<PairHealth, number> = { encrypted: 0, half: 0, 'ike-only': 0, down: 0, off: 0 };
  let cleartext = 0;
  for (const r of rows) {
    byHealth[r.health] += 1;
    if (r.cleartext) cleartext += 1;
  }
  return { rows: rows.length, byHealth, cleartext };
}

// A staged rollout: which hosts are pushed in which wave. Pure: the component turns waves
// into dependencies (a wave's pushes wait for every gate of the wave before), so `pulumi up`
// stops at the first wave whose pairs do not come up and never touches the later ones.
import { isManaged } from '../inventory/managed-hosts.js';
import type { RolloutGateLevel } from '../delivery/rollout-gate.js';
import type { Inventory } from '../inventory/model.js';
import { MeshArgsError } from './mesh-error.js';

export type { RolloutGateLevel } from '../delivery/rollout-gate.js';

/** Staged rollout settings (IpsecMeshArgs.rollout; stack config `ipsec-mesh:rollout`, JSON). */
export interface RolloutArgs {
  /** The canary wave: these hosts are pushed first, alone. */
  canaryHosts?: string[];
  /** Or: the first this many hosts (inventory order) are the canary. Default 1 when canaryHosts is not given. */
  canaryCount?: number;
  /** Explicit waves after the canary, host names. */
  waves?: string[][];
  /** Hosts in no wave follow, in inventory order, this many per wave. Default: all in one wave. */
  waveSize?: number;
  /** What every pair of a wave must have before the next wave: `ike` or `child` (default, CHILD_SA installed). */
  gate?: RolloutGateLevel;
  /** How long a gate waits for its pairs, in seconds. Default 120. */
  gateTimeoutSeconds?: number;
}

export interface RolloutPlan {
  /** Host names per wave, the canary first. Revoked hosts are in none (they get nothing). */
  readonly waves: readonly (readonly string[])[];
  readonly gate: RolloutGateLevel;
  readonly timeoutSeconds: number;
  /** Host → index of its wave. */
  readonly waveOf: ReadonlyMap<string, number>;
}

export const DEFAULT_GATE_TIMEOUT_SECONDS = 120;

function wholeNumber(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new MeshArgsError(field, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Throws MeshArgsError naming the field (`rollout.waves[1][0]` …) on anything inconsistent. */
export function planRollout(inventory: Inventory, args: RolloutArgs): RolloutPlan {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new MeshArgsError('rollout', 'must be an object');
  for (const k of Object.keys(args)) {
    if (!['canaryHosts', 'canaryCount', 'waves', 'waveSize', 'gate', 'gateTimeoutSeconds'].includes(k)) {
      throw new MeshArgsError(`rollout.${k}`, 'is not a rollout setting (canaryHosts, canaryCount, waves, waveSize, gate, gateTimeoutSeconds)');
    }
  }
  const eligible = inventory.hosts.filter((h) => h.revoked !== true && isManaged(h)).map((h) => h.name);
  const known = new Set(inventory.hosts.map((h) => h.name));
  const revoked = new Set(inventory.hosts.filter((h) => h.revoked === true).map((h) => h.name));
  const unmanaged = new Set(inventory.hosts.filter((h) => !isManaged(h)).map((h) => h.name));
  const placed = new Map<string, number>();
  const waves: string[][] = [];
  const place = (field: string, name: unknown, wave: number): string => {
    if (typeof name !== 'string' || !known.has(name)) throw new MeshArgsError(field, `${JSON.stringify(name)} is not a host of the inventory`);
    if (revoked.has(name)) throw new MeshArgsError(field, `${name} is revoked: it gets nothing, so it is in no wave`);
    if (unmanaged.has(name)) throw new MeshArgsError(field, `${name} is unmanaged: ipsec-mesh pushes nothing to it, so it is in no wave`);
    const before = placed.get(name);
    if (before !== undefined) throw new MeshArgsError(field, `${name} is already in wave ${before} (${before === 0 ? 'the canary' : `waves[${before - 1}]`})`);
    placed.set(name, wave);
    return name;
  };

  if (args.canaryHosts !== undefined && args.canaryCount !== undefined) {
    throw new MeshArgsError('rollout.canaryCount', 'give canaryHosts or canaryCount, not both');
  }
  if (args.canaryHosts !== undefined) {
    if (!Array.isArray(args.canaryHosts) || args.canaryHosts.length === 0) throw new MeshArgsError('rollout.canaryHosts', 'must be a non-empty list of host names');
    waves.push(args.canaryHosts.map((h, i) => place(`rollout.canaryHosts[${i}]`, h, 0)));
  } else {
    const count = args.canaryCount === undefined ? 1 : wholeNumber('rollout.canaryCount', args.canaryCount, 1, Math.max(1, eligible.length));
    const explicit = new Set((Array.isArray(args.waves) ? args.waves : []).flat());
    // The canary comes from hosts no explicit wave names.
    waves.push(eligible.filter((h) => !explicit.has(h)).slice(0, count).map((h) => place('rollout.canaryCount', h, 0)));
  }
  if (args.waves !== undefined) {
    if (!Array.isArray(args.waves)) throw new MeshArgsError('rollout.waves', 'must be a list of lists of host names');
    args.waves.forEach((wave, i) => {
      if (!Array.isArray(wave) || wave.length === 0) throw new MeshArgsError(`rollout.waves[${i}]`, 'must be a non-empty list of host names');
      waves.push(wave.map((h, j) => place(`rollout.waves[${i}][${j}]`, h, waves.length)));
    });
  }
  const rest = eligible.filter((h) => !placed.has(h));
  const size = args.waveSize === undefined ? Math.max(1, rest.length) : wholeNumber('rollout.waveSize', args.waveSize, 1, 100_000);
  for (let i = 0; i < rest.length; i += size) {
    const n = waves.length;
    waves.push(rest.slice(i, i + size).map((h) => place('rollout.waveSize', h, n)));
  }
  const gate = args.gate ?? 'child';
  if (gate !== 'ike' && gate !== 'child') throw new MeshArgsError('rollout.gate', `must be ike or child, got ${JSON.stringify(gate)}`);
  const timeoutSeconds = args.gateTimeoutSeconds === undefined ? DEFAULT_GATE_TIMEOUT_SECONDS : wholeNumber('rollout.gateTimeoutSeconds', args.gateTimeoutSeconds, 5, 3600);
  return { waves: waves.filter((w) => w.length > 0), gate, timeoutSeconds, waveOf: placed };
}

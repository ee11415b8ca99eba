// Stack-level enforcement overrides (staged rollout) applied to the inventory before the
// pairs are computed, so the topology layer stays the one place that resolves a pair's level.
import { ENFORCEMENT_LEVELS, type Enforcement, type Inventory, type PairEnforcementOverride } from '../inventory/model.js';
import { MeshArgsError } from './mesh-error.js';

export interface PairEnforcementArgs {
  /** The two host names of the pair, in either order. */
  readonly hosts: string[];
  readonly enforcement: Enforcement;
}

export interface EnforcementOverrides {
  /** Replaces the inventory's `mesh.enforcement`. */
  readonly enforcement?: Enforcement;
  /** Site name → level; replaces that site's own override. */
  readonly siteEnforcement?: Readonly<Record<string, Enforcement>>;
  /** Replace the inventory override of the same pair, or add one. */
  readonly pairEnforcement?: readonly PairEnforcementArgs[];
}

/** Runtime check for callers that are not TypeScript (stack config, other languages). */
export function parseEnforcement(field: string, value: unknown): Enforcement {
  if (typeof value === 'string' && (ENFORCEMENT_LEVELS as readonly string[]).includes(value)) return value as Enforcement;
  throw new MeshArgsError(field, `must be one of ${ENFORCEMENT_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
}

function pairKey(x: string, y: string): string {
  return x < y ? `${x}~${y}` : `${y}~${x}`;
}

export function applyEnforcementOverrides(inventory: Inventory, overrides: EnforcementOverrides): Inventory {
  const { enforcement, siteEnforcement, pairEnforcement } = overrides;
  if (enforcement === undefined && siteEnforcement === undefined && pairEnforcement === undefined) return inventory;

  const meshLevel = enforcement === undefined ? inventory.mesh.enforcement : parseEnforcement('enforcement', enforcement);

  const siteNames = new Set(inventory.sites.map((s) => s.name));
  const siteLevels = new Map<string, Enforcement>();
  for (const [site, level] of Object.entries(siteEnforcement ?? {})) {
    if (!siteNames.has(site)) {
      throw new MeshArgsError(`siteEnforcement.${site}`, `no site "${site}" in the inventory (sites: ${[...siteNames].join(', ')})`);
    }
    siteLevels.set(site, parseEnforcement(`siteEnforcement.${site}`, level));
  }

  const hostNames = new Set(inventory.hosts.map((h) => h.name));
  const pairLevels = new Map<string, PairEnforcementOverride>();
  for (const o of inventory.mesh.pairOverrides) pairLevels.set(pairKey(o.hosts[0], o.hosts[1]), o);
  (pairEnforcement ?? []).forEach((o, i) => {
    const field = `pairEnforcement[${i}]`;
    const [x, y] = o.hosts;
    if (o.hosts.length !== 2 || x === undefined || y === undefined || x === y) {
      throw new MeshArgsError(`${field}.hosts`, 'must name two different hosts');
    }
    for (const h of [x, y]) {
      if (!hostNames.has(h)) throw new MeshArgsError(`${field}.hosts`, `no host "${h}" in the inventory`);
    }
    const level = parseEnforcement(`${field}.enforcement`, o.enforcement);
    // The inventory's override of the pair keeps its other levels (quantumResistance).
    const prior = pairLevels.get(pairKey(x, y));
    pairLevels.set(pairKey(x, y), { ...prior, hosts: x < y ? [x, y] : [y, x], enforcement: level });
  });

  return {
    ...inventory,
    mesh: { ...inventory.mesh, enforcement: meshLevel, pairOverrides: [...pairLevels.values()] },
    sites: inventory.sites.map((s) => {
      const level = siteLevels.get(s.name);
      return level === undefined ? s : { ...s, enforcement: level };
    }),
  };
}

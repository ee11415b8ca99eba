// Effective post-quantum preshared key level of a pair, resolved like its enforcement: the
// pair's own override, else each host's site level (the site's override, else the mesh's)
// where the weaker end wins, so a site raised to `required` never refuses a pair whose other
// end is not ready.
import type { Inventory, QuantumResistance } from '../inventory/model.js';

const RANK: Readonly<Record<QuantumResistance, number>> = { off: 0, preferred: 1, required: 2 };

export function weakerQuantumResistance(x: QuantumResistance, y: QuantumResistance): QuantumResistance {
  return RANK[x] <= RANK[y] ? x : y;
}

/** The level a site asks for: its override, else the mesh level. */
export function siteQuantumResistance(inventory: Inventory, siteName: string): QuantumResistance {
  return inventory.sites.find((s) => s.name === siteName)?.quantumResistance ?? inventory.mesh.quantumResistance;
}

/** A pair's level: its own override, else the weaker of its two site levels. */
export function resolvePairQuantumResistance(siteLevelA: QuantumResistance, siteLevelB: QuantumResistance, pairOverride: QuantumResistance | undefined): QuantumResistance {
  return pairOverride ?? weakerQuantumResistance(siteLevelA, siteLevelB);
}

/** Whether any pair of the inventory may use a PPK (so the mesh needs its PPK master). */
export function inventoryUsesPpk(inventory: Inventory): boolean {
  return (
    inventory.mesh.quantumResistance !== 'off' ||
    inventory.sites.some((s) => s.quantumResistance !== undefined && s.quantumResistance !== 'off') ||
    inventory.mesh.pairOverrides.some((o) => o.quantumResistance !== undefined && o.quantumResistance !== 'off')
  );
}

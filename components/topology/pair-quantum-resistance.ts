// Effective post-quantum preshared key level of a pair, resolved like its enforcement: each
// host's site level (the site's override, else the mesh's), and the weaker end wins, so a
// site raised to `required` never refuses a pair whose other end is not ready.
import type { Inventory, QuantumResistance } from '../inventory/model.js';

const RANK: Readonly<Record<QuantumResistance, number>> = { off: 0, preferred: 1, required: 2 };

export function weakerQuantumResistance(x: QuantumResistance, y: QuantumResistance): QuantumResistance {
  return RANK[x] <= RANK[y] ? x : y;
}

/** The level a site asks for: its override, else the mesh level. */
export function siteQuantumResistance(inventory: Inventory, siteName: string): QuantumResistance {
  return inventory.sites.find((s) => s.name === siteName)?.quantumResistance ?? inventory.mesh.quantumResistance;
}

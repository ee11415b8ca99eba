// Effective enforcement of a pair. Both ends render the same level for a pair, so the level
// is a property of the pair, resolved here once.
import type { Enforcement, Inventory } from '../inventory/model.js';

const RANK: Readonly<Record<Enforcement, number>> = { off: 0, use: 1, require: 2 };

/** The weaker of two levels (off < use < require). */
export function weakerEnforcement(x: Enforcement, y: Enforcement): Enforcement {
  return RANK[x] <= RANK[y] ? x : y;
}

/**
 * The level a host's site asks for: the site's override, else the mesh level.
 * A site without an override is "on" the mesh level, so it takes part in the min below.
 */
export function siteEnforcement(inventory: Inventory, siteName: string): Enforcement {
  const site = inventory.sites.find((s) => s.name === siteName);
  return site?.enforcement ?? inventory.mesh.enforcement;
}

/**
 * Resolution order: a pair override wins outright (it is the most specific statement, and the
 * way to pilot one pair, e.g. `require` between two `use` sites); otherwise the weaker of the
 * two hosts' site levels. Taking the weaker makes a staged rollout safe: moving one site up to
 * `require` only tightens pairs whose other end is ready too, and never forces trap policies
 * onto a pair with a site still on `use` (or `off`).
 */
export function resolvePairEnforcement(
  siteLevelA: Enforcement,
  siteLevelB: Enforcement,
  pairOverride: Enforcement | undefined,
): Enforcement {
  return pairOverride ?? weakerEnforcement(siteLevelA, siteLevelB);
}

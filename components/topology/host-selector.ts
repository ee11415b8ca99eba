// Selector matching for pair rules, over the host list by index. Same semantics as the
// inventory layer's `matchesSelector` (components/inventory/host-selector.ts), which the
// property tests check against: every given criterion must match (AND), `tags` needs all
// of them, a given but empty list matches nothing.
import type { Host, HostSelector } from '../inventory/model.js';

/** True when the selector names no criterion at all (invalid per the model). */
export function isEmptySelector(selector: HostSelector): boolean {
  return (
    selector.sites === undefined &&
    selector.clusters === undefined &&
    selector.tags === undefined &&
    selector.hosts === undefined
  );
}

/** Indexes (into `hosts`) of the hosts the selector matches, ascending. */
export function selectHostIndexes(hosts: readonly Host[], selector: HostSelector): number[] {
  // Sets keep this linear when a selector lists many hosts (e.g. generated inventories).
  const sites = selector.sites === undefined ? undefined : new Set(selector.sites);
  const clusters = selector.clusters === undefined ? undefined : new Set(selector.clusters);
  const names = selector.hosts === undefined ? undefined : new Set(selector.hosts);
  const tags = selector.tags;
  const out: number[] = [];
  for (let i = 0; i < hosts.length; i++) {
    const h = hosts[i]!;
    if (sites !== undefined && !sites.has(h.site)) continue;
    if (clusters !== undefined && (h.cluster === undefined || !clusters.has(h.cluster))) continue;
    if (names !== undefined && !names.has(h.name)) continue;
    if (tags !== undefined && !tags.every((t) => h.tags.includes(t))) continue;
    out.push(i);
  }
  return out;
}

// Which hosts a selector picks. Same semantics as the topology layer: every given criterion
// must match (AND); `tags` requires the host to carry all of them.
import type { Host, HostSelector } from './model.js';

/** Minimal host view, so the checks can match hosts before the model is built. */
export type SelectableHost = Pick<Host, 'name' | 'site' | 'cluster' | 'tags'>;

export function matchesSelector(host: SelectableHost, selector: HostSelector): boolean {
  if (selector.sites !== undefined && !selector.sites.includes(host.site)) return false;
  if (selector.clusters !== undefined && (host.cluster === undefined || !selector.clusters.includes(host.cluster))) return false;
  if (selector.hosts !== undefined && !selector.hosts.includes(host.name)) return false;
  if (selector.tags !== undefined && !selector.tags.every((t) => host.tags.includes(t))) return false;
  return true;
}

/** The hosts the selector matches, in inventory order. */
export function selectHosts<H extends SelectableHost>(hosts: readonly H[], selector: HostSelector): H[] {
  return hosts.filter((h) => matchesSelector(h, selector));
}

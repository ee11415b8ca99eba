// The lab the main job builds: N dual-stack hosts spread over sites, each site a /26 of the
// documentation ranges (198.51.100.252/30 stays free for the operator link) and a /64.
import type { LabSpec } from './netns/index.js';

const SITES = [
  { name: 'east', ipv4: '198.51.100.0/26', ipv6: '2001:db8:e::/64' },
  { name: 'west', ipv4: '203.0.113.0/26', ipv6: '2001:db8:f::/64' },
  { name: 'north', ipv4: '198.51.100.64/26', ipv6: '2001:db8:a::/64' },
  { name: 'south', ipv4: '203.0.113.64/26', ipv6: '2001:db8:b::/64' },
] as const;

/** Four sites of up to 52 hosts (.10–.62 of a /26); the engine benchmark runs 100. */
export const MAX_LAB_HOSTS = 120;

export class LabLayoutError extends Error {
  override readonly name = 'LabLayoutError';
}

/** `hosts` hosts named h1…hN, round-robin over `sites` sites (default: 2, or 3 from 6 hosts on). */
export function labLayout(name: string, hosts: number, sites?: number): LabSpec {
  if (!Number.isInteger(hosts) || hosts < 2 || hosts > MAX_LAB_HOSTS) {
    throw new LabLayoutError(`--hosts must be a whole number from 2 to ${MAX_LAB_HOSTS}, got ${hosts}`);
  }
  const siteCount = sites ?? (hosts >= 6 ? 3 : 2);
  if (!Number.isInteger(siteCount) || siteCount < 1 || siteCount > SITES.length) {
    throw new LabLayoutError(`--sites must be a whole number from 1 to ${SITES.length}, got ${siteCount}`);
  }
  const used = SITES.slice(0, siteCount);
  return {
    name,
    sites: used.map((s) => ({ ...s })),
    hosts: Array.from({ length: hosts }, (_, i) => ({ name: `h${i + 1}`, site: used[i % siteCount]!.name })),
  };
}
